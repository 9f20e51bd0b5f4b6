package fabric

import (
	"strconv"
	"strings"
)

// Subject prefixes. See DESIGN.md §3.
const (
	prefixReq   = "iogo.req."
	prefixInst  = "iogo.inst."
	prefixAll   = "iogo.all."
	prefixUser  = "iogo.user."
	prefixEvent = "iogo.event."
	prefixExt   = "iogo.ext."
	prefixGate  = "iogo.gate."

	// PushAll is the subject every external server listens on for a
	// broadcast to every connected user.
	PushAll = "iogo.push.all"

	// inboxPrefix is where replies to an external server are sent. It stays
	// under _INBOX so that default NATS permissions for replies apply.
	inboxPrefix = "_INBOX.iogo."
)

// Queue returns the queue group that instances of service share, so that a
// request to a route reaches exactly one of them.
func Queue(service string) string { return service }

// Request is the subject of a request to route (cmd, sub), served by any one
// instance of the service that owns it.
func Request(cmd, sub int32) string { return route(prefixReq, cmd, sub) }

// Instance is the subject of a request to route (cmd, sub) on one instance,
// used when a user is bound to that instance.
func Instance(instanceID string, cmd, sub int32) string {
	return route(prefixInst+instanceID+".", cmd, sub)
}

// All is the subject of a request to route (cmd, sub) fanned out to every
// instance of the serving service (request/multiple_response).
func All(cmd, sub int32) string { return route(prefixAll, cmd, sub) }

// IsAll reports whether subject is a fan-out subject made by All.
func IsAll(subject string) bool { return strings.HasPrefix(subject, prefixAll) }

// UserPush is the subject of a push to one user; the external server that
// holds the user's connection subscribes to it.
func UserPush(userID int64) string {
	return prefixUser + strconv.FormatInt(userID, 10) + ".push"
}

// UserControl is the subject of control requests about one user (kick,
// online check, session attributes), answered by the external server that
// holds the user.
func UserControl(userID int64) string {
	return prefixUser + strconv.FormatInt(userID, 10) + ".ctl"
}

// Event is the subject of an event-bus topic.
func Event(topic string) string { return prefixEvent + topic }

// External is the subject of an external-server region call, answered by
// every external server.
func External(bizCode int32) string { return prefixExt + strconv.FormatInt(int64(bizCode), 10) }

// GateInbox is the wildcard subject on which the external server gateID
// receives replies to the requests it forwards.
func GateInbox(gateID string) string { return inboxPrefix + gateID + ".*" }

// GateReply is the reply subject of one forwarded request; token identifies
// the pending request at the gate.
func GateReply(gateID string, token uint64) string {
	return inboxPrefix + gateID + "." + strconv.FormatUint(token, 10)
}

// ReplyToken extracts the token from a reply subject made by GateReply. It
// reports false for a subject of another shape.
func ReplyToken(subject string) (uint64, bool) {
	i := len(subject) - 1
	for i >= 0 && subject[i] != '.' {
		i--
	}
	if i < 0 || i == len(subject)-1 {
		return 0, false
	}
	t, err := strconv.ParseUint(subject[i+1:], 10, 64)
	return t, err == nil
}

func route(prefix string, cmd, sub int32) string {
	b := make([]byte, 0, len(prefix)+12)
	b = append(b, prefix...)
	b = strconv.AppendInt(b, int64(cmd), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(sub), 10)
	return string(b)
}
