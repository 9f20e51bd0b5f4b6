package fabric

import "strconv"

// Control operations, sent as a Control message to an external server: on
// UserControl(userID) to whichever gate holds the user, or on
// GateControl(gateID) to one gate about one of its sessions.
const (
	// OpBind binds Session (on the addressed gate) to User; the gate first
	// claims the user in the bindings bucket and kicks the user's previous
	// session with CodeForcedOffline.
	OpBind = "bind"
	// OpUnbind logs Session (on the addressed gate) out: it stays connected,
	// anonymous, and its user's registry entry no longer names it.
	OpUnbind = "unbind"
	// OpKick closes the user's session (or Session on a gate) after sending
	// Code and Msg.
	OpKick = "kick"
	// OpOnline asks whether the user has a session; only a gate holding the
	// user answers.
	OpOnline = "online"
	// OpGetAttrs returns the session's attributes.
	OpGetAttrs = "get-attrs"
	// OpSetAttrs merges Attrs into the session's attributes; an empty value
	// deletes the key.
	OpSetAttrs = "set-attrs"
	// OpBindLogic tells the gate holding the user that its requests for
	// Service now go to Instance ("" removes the binding).
	OpBindLogic = "bind-logic"
)

// Control is a control request to an external server, JSON-encoded.
type Control struct {
	Op       string            `json:"op"`
	User     int64             `json:"user,omitempty"`
	Session  uint64            `json:"session,omitempty"`
	Code     int32             `json:"code,omitempty"`
	Msg      string            `json:"msg,omitempty"`
	Attrs    map[string]string `json:"attrs,omitempty"`
	Service  string            `json:"service,omitempty"`
	Instance string            `json:"instance,omitempty"`
}

// ControlReply is a gate's answer to a Control request, JSON-encoded.
type ControlReply struct {
	OK      bool              `json:"ok"`
	Error   string            `json:"error,omitempty"`
	Online  bool              `json:"online,omitempty"`
	Gate    string            `json:"gate,omitempty"`
	Session uint64            `json:"session,omitempty"`
	Attrs   map[string]string `json:"attrs,omitempty"`
	// Gone, with OK false, says the request named a session the gate does
	// not hold open (closed meanwhile, or never there): the client left,
	// which is no fault of the caller.
	Gone bool `json:"gone,omitempty"`
}

// GateControl is the subject of control requests to one external server,
// about one of its sessions.
func GateControl(gateID string) string { return prefixGate + gateID + ".ctl" }

// HeaderAttrs carries a session's attributes on each request it sends, as
// URL-query encoding (k1=v1&k2=v2); absent when there are none.
const HeaderAttrs = "Iogo-Attrs"

// AttrIP is the session attribute the gate sets when a connection opens: the
// client's IP address as the gate sees it (behind a proxy, the proxy's).
// Logic servers read it with Ctx.Attr, e.g. for per-IP login limits.
const AttrIP = "ip"

// HeaderType names the protobuf message type of a push payload, so that a
// gate can transcode it for a JSON session.
const HeaderType = "Iogo-Type"

// RouteKey is the key of route (cmd, sub) in BucketRoutes.
func RouteKey(cmd, sub int32) string {
	return strconv.FormatInt(int64(cmd), 10) + "." + strconv.FormatInt(int64(sub), 10)
}

// BindingKey is the key of a user in BucketBindings.
func BindingKey(userID int64) string { return "u" + strconv.FormatInt(userID, 10) }
