package broker

import (
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/iogo-dev/iogo/pkg/fabric"
)

// User is one client credential of the broker and the role it connects
// as: a user name and password, or a public nkey whose seed the client
// signs with. The role decides the subjects the client may publish and
// subscribe to ([Permissions]).
type User struct {
	// Role is fabric.RoleGate, fabric.RoleLogic or fabric.RoleTool.
	Role string
	// Name and Password are a user/password pair. Leave both empty for an
	// nkey user.
	Name     string
	Password string
	// NKey is the public key ("U...") of an nkey user; the client proves
	// it holds the seed by signing (svcmain's -nkey-seed).
	NKey string
}

// validate reports the first problem with u.
func (u User) validate() error {
	if !slices.Contains(fabric.Roles(), u.Role) {
		return fmt.Errorf("user %q: unknown role %q (want one of %q)", u.label(), u.Role, fabric.Roles())
	}
	switch {
	case u.NKey != "" && (u.Name != "" || u.Password != ""):
		return fmt.Errorf("user %q: an nkey user has no name or password", u.label())
	case u.NKey != "":
		return validNKey(u.NKey)
	case u.Name == "" || u.Password == "":
		return fmt.Errorf("%s user: name and password must both be set (or an nkey)", u.Role)
	}
	return nil
}

func (u User) label() string {
	if u.NKey != "" {
		return u.NKey
	}
	return u.Name
}

// Streams and subjects of JetStream (defined by NATS, not by iogo).
const (
	jsAPI          = "$JS.API."
	kvStreamPrefix = "KV_"
	kvSubject      = "$KV."
)

// kvRead is what reading and watching a framework bucket takes: binding
// it (stream info), getting a key (direct or through the leader), and the
// ordered consumers of Watch and ListKeys with their flow control.
func kvRead(bucket string) []string {
	s := kvStreamPrefix + bucket
	return []string{
		jsAPI + "STREAM.INFO." + s,
		jsAPI + "DIRECT.GET." + s,
		jsAPI + "DIRECT.GET." + s + ".>",
		jsAPI + "STREAM.MSG.GET." + s,
		jsAPI + "CONSUMER.CREATE." + s,
		jsAPI + "CONSUMER.CREATE." + s + ".>",
		jsAPI + "CONSUMER.DELETE." + s + ".*",
		jsAPI + "CONSUMER.INFO." + s + ".*",
		"$JS.FC." + s + ".>",
	}
}

// kvWrite is what writing keys of a bucket takes, beside kvRead.
func kvWrite(bucket string) []string { return []string{kvSubject + bucket + ".>"} }

// frameworkStreamAdmin are the JetStream API calls that create, change or
// remove the streams of the framework buckets. Only the broker itself (its
// internal user, [EnsureBuckets]) makes them.
func frameworkStreamAdmin() []string {
	var out []string
	for _, b := range fabric.Buckets() {
		for _, op := range []string{"CREATE", "UPDATE", "DELETE", "PURGE"} {
			out = append(out, jsAPI+"STREAM."+op+"."+kvStreamPrefix+b)
		}
	}
	return out
}

// responseTTL is how long after receiving a request a client may still
// reply to it. It bounds the broker's table of allowed replies; a reply
// later than any caller's timeout is useless anyway.
const responseTTL = 2 * time.Minute

// microAll covers the NATS micro service subjects: $SRV.PING, .INFO and
// .STATS, each also per service name and per instance.
const microAll = "$SRV.>"

// rolePerms returns the permissions of role, built fresh on each call.
// See [Permissions] for what each role may do and why.
func rolePerms(role string) (*server.Permissions, bool) {
	// responses is the number of replies allowed to each request received
	// (0: none), within responseTTL.
	perm := func(pubAllow, pubDeny, subAllow []string, responses int) *server.Permissions {
		p := &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: pubAllow, Deny: pubDeny},
			Subscribe: &server.SubjectPermission{Allow: subAllow},
		}
		if responses > 0 {
			p.Response = &server.ResponsePermission{MaxMsgs: responses, Expires: responseTTL}
		}
		return p
	}
	routes, services, bindings := fabric.BucketRoutes, fabric.BucketServices, fabric.BucketBindings
	switch role {
	case fabric.RoleGate:
		pub := []string{
			fabric.AnyRequest,     // players' requests
			fabric.AnyInstance,    // players' requests to the instance they are bound to
			fabric.AnyGateControl, // kicking a user's session on another gate at login
		}
		pub = append(pub, kvRead(routes)...)
		pub = append(pub, kvRead(services)...)
		pub = append(pub, kvRead(bindings)...)
		pub = append(pub, kvWrite(bindings)...) // claiming a user at login
		sub := []string{
			fabric.AnyGateReply, // replies to the requests it forwards
			fabric.InboxPrefix(fabric.RoleGate) + ".>",
			fabric.AnyGateControl,
			fabric.AnyUserControl,
			fabric.AnyUserPush,
			fabric.PushAll,
			fabric.AnyExternal,
			microAll, fabric.AnyStats, // its stats service
		}
		// Two replies: a region call to every gate gets an acknowledgement
		// first, then the answer (fabric.HeaderAck).
		return perm(pub, nil, sub, 2), true
	case fabric.RoleLogic:
		pub := []string{
			fabric.AnyRequest, fabric.AnyAll, // Call, Send, CallAll
			fabric.AnyUserPush, fabric.PushAll,
			fabric.AnyUserControl, fabric.AnyGateControl, // bind (login), kick, attributes
			fabric.AnyEvent, fabric.AnyExternal,
			jsAPI + ">", kvSubject + ">", "$JS.ACK.>", "$JS.FC.>", // module data, durable events
			microAll, // health checks (iogo-health runs with the service's credential)
			// Replies to players and to calls, also after a reconnect:
			// allow_responses trusts only the connection a request came
			// in on, so a reply that leaves on the new connection after a
			// broker failover would be refused and the player would wait
			// for a timeout. A logic server can push anything to any
			// player anyway; what stays closed is reading these inboxes.
			fabric.AnyGateReply, fabric.InboxPrefix(fabric.RoleLogic) + ".>",
		}
		sub := []string{
			fabric.InboxPrefix(fabric.RoleLogic) + ".>",
			fabric.AnyRequest, fabric.AnyInstance, fabric.AnyAll,
			fabric.AnyEvent,
			microAll, fabric.AnyStats,
		}
		return perm(pub, frameworkStreamAdmin(), sub, 1), true
	case fabric.RoleTool:
		pub := []string{microAll, fabric.AnyStats}
		pub = append(pub, kvRead(routes)...)
		pub = append(pub, kvRead(services)...)
		// registry.Open binds every framework bucket; reading bindings
		// stays closed.
		pub = append(pub, jsAPI+"STREAM.INFO."+kvStreamPrefix+bindings)
		sub := []string{fabric.InboxPrefix(fabric.RoleTool) + ".>"}
		return perm(pub, nil, sub, 0), true
	}
	return nil, false
}

// Permissions returns the subject permissions of a client role
// (fabric.RoleGate, RoleLogic or RoleTool), or false for another role.
// Every role subscribes only to its own inboxes (fabric.InboxPrefix), so
// no role reads the replies meant for another, and replies to the
// requests it receives: one message each from a logic server, two from a
// gate (a region call's acknowledgement and answer).
//
//   - A gate publishes players' requests (fabric.AnyRequest,
//     AnyInstance), kicks on other gates (AnyGateControl), and reads the
//     registry and writes the bindings bucket; it subscribes to its
//     replies (AnyGateReply), control, pushes and region calls. It can
//     neither serve a route, nor push, nor publish events, nor touch other
//     JetStream streams.
//   - A logic server serves routes (it subscribes to AnyRequest,
//     AnyInstance, AnyAll, AnyEvent), calls other routes, pushes, sends
//     control requests to gates (a login binds a session through
//     AnyGateControl), and uses JetStream for its data, except creating,
//     changing or removing the framework buckets. It cannot receive a
//     gate's control, pushes or replies, so it cannot pose as a gate nor
//     read players' replies; and it cannot publish to AnyInstance. It may
//     publish to the gates' and logic servers' reply subjects outright, so
//     that a reply sent on a new connection after a broker failover is not
//     refused (allow_responses trusts only the connection a request came
//     in on).
//   - A tool asks for stats ($SRV.>, AnyStats) and reads the routes and
//     services buckets. It publishes nothing else and subscribes to
//     nothing but its inboxes.
func Permissions(role string) (*server.Permissions, bool) { return rolePerms(role) }
