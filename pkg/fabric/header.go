package fabric

import (
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// Header names of the internal protocol. Values are decimal where numeric.
const (
	// HeaderRoute is the route of a request: cmd<<16 | sub.
	HeaderRoute = "Iogo-Route"
	// HeaderUser is the logged-in userID; absent before login.
	HeaderUser = "Iogo-User"
	// HeaderSession is the session (connection) ID, unique within its gate.
	HeaderSession = "Iogo-Sid"
	// HeaderGate is the instance ID of the external server holding the session.
	HeaderGate = "Iogo-Gate"
	// HeaderMsgID is the client's msgId, for logs and tracing.
	HeaderMsgID = "Iogo-Msg"
	// HeaderCodec names the payload codec when it is not protobuf.
	HeaderCodec = "Iogo-Codec"
	// HeaderDepth is the nesting depth of a server-to-server call: 1 for a
	// call made outside any call handler, n+1 for a call made while serving
	// a call of depth n; absent on a client's request.
	HeaderDepth = "Iogo-Depth"
	// HeaderTimeout is how long the caller waits for the reply, in
	// milliseconds: a gate's request timeout, or the time left before a
	// server-to-server call's deadline. A logic server answers a request
	// that waited longer than that in its queue with an error instead of
	// running a handler nobody waits for any more. Absent: no limit.
	HeaderTimeout = "Iogo-Timeout"

	// HeaderStatus is the error code of a reply; absent on success.
	HeaderStatus = "Iogo-Status"
	// HeaderError is the error message of a reply.
	HeaderError = "Iogo-Error"
	// HeaderVoid marks the acknowledgement of a request/void route: the gate
	// clears the pending request and sends nothing to the client.
	HeaderVoid = "Iogo-Void"
	// HeaderInstance is the instance ID of the logic server that sent a
	// reply, so that a requester collecting several replies
	// (request/multiple_response) knows who answered.
	HeaderInstance = "Iogo-Instance"

	// HeaderTraceParent carries the W3C trace context.
	HeaderTraceParent = "traceparent"

	// natsStatus and natsNoResponders are how the NATS server tells a
	// requester that no subscriber exists for the subject.
	natsStatus       = "Status"
	natsNoResponders = "503"
)

// Meta is the metadata of a request forwarded from a gate to a logic server.
type Meta struct {
	Cmd, Sub int32
	UserID   int64 // 0 before login
	Session  uint64
	Gate     string
	// MsgID is the client's msgId; on a server-to-server call without a
	// user, a random number that spreads such calls over executors.
	MsgID int32
	Codec string // "" for protobuf
	// Attrs are the session's attributes, URL-query encoded (HeaderAttrs);
	// "" when there are none.
	Attrs string
	// Depth is the nesting depth of a server-to-server call (HeaderDepth);
	// 0 on a client's request. A request with Gate "" is such a call.
	Depth int32
	// Timeout is how long the caller waits for the reply (HeaderTimeout,
	// millisecond resolution); 0 when it did not say.
	Timeout time.Duration
}

// CmdMerge returns the merged route, cmd<<16 | sub.
func (m *Meta) CmdMerge() int32 { return m.Cmd<<16 | m.Sub&0xffff }

// Header encodes m as NATS headers.
func (m *Meta) Header() nats.Header {
	h := make(nats.Header, 6)
	h[HeaderRoute] = []string{strconv.FormatInt(int64(m.CmdMerge()), 10)}
	h[HeaderSession] = []string{strconv.FormatUint(m.Session, 10)}
	h[HeaderGate] = []string{m.Gate}
	h[HeaderMsgID] = []string{strconv.FormatInt(int64(m.MsgID), 10)}
	if m.UserID != 0 {
		h[HeaderUser] = []string{strconv.FormatInt(m.UserID, 10)}
	}
	if m.Codec != "" {
		h[HeaderCodec] = []string{m.Codec}
	}
	if m.Attrs != "" {
		h[HeaderAttrs] = []string{m.Attrs}
	}
	if m.Depth != 0 {
		h[HeaderDepth] = []string{strconv.FormatInt(int64(m.Depth), 10)}
	}
	if m.Timeout > 0 {
		h[HeaderTimeout] = []string{strconv.FormatInt(max(1, m.Timeout.Milliseconds()), 10)}
	}
	return h
}

// ParseMeta decodes request metadata from NATS headers.
func ParseMeta(h nats.Header) (Meta, error) {
	var m Meta
	merge, err := intHeader(h, HeaderRoute, 32, true)
	if err != nil {
		return m, err
	}
	m.Cmd, m.Sub = int32(merge)>>16, int32(merge)&0xffff
	if m.UserID, err = intHeader(h, HeaderUser, 64, false); err != nil {
		return m, err
	}
	msgID, err := intHeader(h, HeaderMsgID, 32, false)
	if err != nil {
		return m, err
	}
	m.MsgID = int32(msgID)
	depth, err := intHeader(h, HeaderDepth, 32, false)
	if err != nil {
		return m, err
	}
	m.Depth = int32(depth)
	timeout, err := intHeader(h, HeaderTimeout, 32, false)
	if err != nil {
		return m, err
	}
	m.Timeout = time.Duration(max(timeout, 0)) * time.Millisecond
	if s := h.Get(HeaderSession); s != "" {
		if m.Session, err = strconv.ParseUint(s, 10, 64); err != nil {
			return m, fmt.Errorf("fabric: header %s: %w", HeaderSession, err)
		}
	}
	m.Gate = h.Get(HeaderGate)
	m.Codec = h.Get(HeaderCodec)
	m.Attrs = h.Get(HeaderAttrs)
	return m, nil
}

// Reply is the metadata of a logic server's answer to a request.
type Reply struct {
	Status int32  // 0 on success
	Error  string // message when Status != 0
	Void   bool   // no response goes to the client
	// Instance is the instance ID of the replying logic server; "" for
	// none.
	Instance string
}

// Header encodes r as NATS headers; a plain success without Instance has
// none.
func (r *Reply) Header() nats.Header {
	if r.Status == 0 && !r.Void && r.Instance == "" {
		return nil
	}
	h := make(nats.Header, 4)
	if r.Instance != "" {
		h[HeaderInstance] = []string{r.Instance}
	}
	if r.Void {
		h[HeaderVoid] = []string{"1"}
	}
	if r.Status != 0 {
		h[HeaderStatus] = []string{strconv.FormatInt(int64(r.Status), 10)}
		if r.Error != "" {
			h[HeaderError] = []string{r.Error}
		}
	}
	return h
}

// ParseReply decodes reply metadata from NATS headers.
func ParseReply(h nats.Header) (Reply, error) {
	var r Reply
	if h == nil {
		return r, nil
	}
	st, err := intHeader(h, HeaderStatus, 32, false)
	if err != nil {
		return r, err
	}
	r.Status = int32(st)
	r.Error = h.Get(HeaderError)
	r.Void = h.Get(HeaderVoid) != ""
	r.Instance = h.Get(HeaderInstance)
	return r, nil
}

// IsNoResponders reports whether msg is the NATS server's notice that a
// request found no subscriber.
func IsNoResponders(msg *nats.Msg) bool {
	return len(msg.Data) == 0 && msg.Header.Get(natsStatus) == natsNoResponders
}

func intHeader(h nats.Header, key string, bits int, required bool) (int64, error) {
	s := h.Get(key)
	if s == "" {
		if required {
			return 0, fmt.Errorf("fabric: missing header %s", key)
		}
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("fabric: header %s: %w", key, err)
	}
	return v, nil
}
