package fabric

import (
	"strconv"
	"strings"
)

// External-region calls: a logic server calls an action that external
// servers (gates) serve, by its bizCode. A call to every gate is published
// on External(bizCode); a call to one gate on GateExternal(gateID,
// bizCode). The request carries Meta headers (HeaderTimeout at least); the
// payload is the action's request, protobuf-encoded. A gate answers with
// Reply headers (Instance = its gate ID, Status and Error on failure) and
// the response as the payload. On External(bizCode) a gate first sends an
// acknowledgement (HeaderAck, Instance set, no payload) as soon as the
// request arrives, so that the caller learns which gates are working on it
// before their results come.

// HeaderAck marks a gate's acknowledgement of an External call: the gate
// named by HeaderInstance has the request and will answer it.
const HeaderAck = "Iogo-Ack"

// Built-in region actions every gate serves. Applications use
// non-negative bizCodes; negative ones are the framework's.
const (
	// BizSessions answers with the gate's number of open client sessions
	// (an int64); the request is empty.
	BizSessions int32 = -1
	// BizUsers answers with the gate's number of logged-in users (an
	// int64); the request is empty.
	BizUsers int32 = -2
)

// ExternalAll is the wildcard subject of every region call to all gates.
const ExternalAll = prefixExt + "*"

// GateExternal is the subject of a region call with bizCode to the gate
// gateID alone. It stays under the iogo.ext. prefix, apart from the gate
// control subjects (GateControl), so that broker permissions can let logic
// servers call region actions (publish iogo.ext.>) without letting them
// bind sessions.
func GateExternal(gateID string, bizCode int32) string {
	return prefixExt + strconv.FormatInt(int64(bizCode), 10) + "." + gateID
}

// GateExternalAll is the wildcard subject of every region call to the gate
// gateID alone.
func GateExternalAll(gateID string) string { return prefixExt + "*." + gateID }

// RegionBizCode returns the bizCode of a subject made by External or
// GateExternal, and whether the call is to every gate (External). It
// reports ok false for a subject of another shape.
func RegionBizCode(subject string) (bizCode int32, all, ok bool) {
	rest, found := strings.CutPrefix(subject, prefixExt)
	if !found {
		return 0, false, false
	}
	biz, gate, one := strings.Cut(rest, ".")
	if one && (gate == "" || strings.Contains(gate, ".")) {
		return 0, false, false
	}
	n, err := strconv.ParseInt(biz, 10, 32)
	if err != nil {
		return 0, false, false
	}
	return int32(n), !one, true
}
