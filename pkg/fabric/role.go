package fabric

// Roles of the clients of the brokers. Each role connects with credentials
// of its own, and the brokers give each role only the subjects its job
// needs (package broker, Permissions): a gate cannot serve requests, a
// logic server cannot receive a gate's control messages or read a gate's
// replies, a tool can only read the registry and ask for stats.
const (
	// RoleGate is an external server: it holds player connections,
	// forwards their requests and takes control requests about them.
	RoleGate = "gate"
	// RoleLogic is a logic server: it serves routes, pushes to users,
	// sends control requests to gates and keeps data in JetStream.
	RoleLogic = "logic"
	// RoleTool is a read-only tool: `iogo cli`, `iogo gen`, iogo-health,
	// a dashboard in another process. It reads the route and service
	// registry and gathers stats; it sends nothing to users or gates.
	RoleTool = "tool"
)

// Roles lists every client role.
func Roles() []string { return []string{RoleGate, RoleLogic, RoleTool} }

// InboxPrefix is the prefix of the reply subjects (NATS inboxes) of a
// client of role: "_INBOX." + role. A client connecting with a role's
// credentials sets it with nats.CustomInboxPrefix: the brokers let a role
// subscribe to its own inboxes only, so that no role reads the replies
// meant for another. The services of this repository set it themselves.
func InboxPrefix(role string) string { return "_INBOX." + role }

// Subject patterns covering every subject of one kind, for subscriptions
// that take them all and for the brokers' permissions.
const (
	// AnyRequest matches every Request subject.
	AnyRequest = prefixReq + ">"
	// AnyInstance matches every Instance subject.
	AnyInstance = prefixInst + ">"
	// AnyAll matches every All (fan-out) subject.
	AnyAll = prefixAll + ">"
	// AnyUserPush matches every UserPush subject.
	AnyUserPush = prefixUser + "*.push"
	// AnyUserControl matches every UserControl subject.
	AnyUserControl = prefixUser + "*.ctl"
	// AnyGateControl matches every GateControl subject.
	AnyGateControl = prefixGate + "*.ctl"
	// AnyEvent matches every Event subject.
	AnyEvent = prefixEvent + ">"
	// AnyExternal matches every External (region call) subject.
	AnyExternal = prefixExt + ">"
	// AnyGateReply matches every GateReply subject, of every gate.
	AnyGateReply = inboxPrefix + ">"
	// AnyStats matches the stats endpoint of every instance (package
	// stats registers iogo.stats.<instance>).
	AnyStats = "iogo.stats.>"
)
