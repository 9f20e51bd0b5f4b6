package external

import (
	"sync"

	oteltrace "go.opentelemetry.io/otel/trace"
)

// pendingReq is a request forwarded to the fabric and not yet answered.
type pendingReq struct {
	sess     *session
	deadline int64 // Server.now() after which the request times out
	msgID    int32
	cmdMerge int32
	bound    bool           // sent to a bound instance: no responders means errs.CodeLogicGone
	span     oteltrace.Span // the gate span when tracing, else nil
}

// pendingTable maps reply tokens to pending requests. Tokens increase
// monotonically and are never reused within a Server's life, so a late
// reply can never be mistaken for a newer request's.
//
// All replies arrive on one subscription and all timeouts are found by one
// sweeper, so a request costs a map entry, not a goroutine or a timer.
type pendingTable struct {
	mu   sync.Mutex
	next uint64
	m    map[uint64]pendingReq
}

func newPendingTable() *pendingTable {
	return &pendingTable{m: make(map[uint64]pendingReq)}
}

// add records a request and returns its token.
func (t *pendingTable) add(p pendingReq) uint64 {
	t.mu.Lock()
	t.next++
	tok := t.next
	t.m[tok] = p
	p.sess.inflight++
	t.mu.Unlock()
	return tok
}

// take removes and returns the request of tok.
func (t *pendingTable) take(tok uint64) (pendingReq, bool) {
	t.mu.Lock()
	p, ok := t.m[tok]
	if ok {
		delete(t.m, tok)
		p.sess.inflight--
	}
	t.mu.Unlock()
	return p, ok
}

// expire removes the requests whose deadline is before now and appends them
// to buf.
func (t *pendingTable) expire(now int64, buf []pendingReq) []pendingReq {
	t.mu.Lock()
	for tok, p := range t.m {
		if p.deadline < now {
			delete(t.m, tok)
			p.sess.inflight--
			buf = append(buf, p)
		}
	}
	t.mu.Unlock()
	return buf
}

// dropSession forgets every request of s; their replies will be ignored.
func (t *pendingTable) dropSession(s *session) {
	t.mu.Lock()
	if s.inflight > 0 {
		for tok, p := range t.m {
			if p.sess == s {
				delete(t.m, tok)
			}
		}
		s.inflight = 0
	}
	t.mu.Unlock()
}

// len returns the number of pending requests.
func (t *pendingTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// clear forgets every request.
func (t *pendingTable) clear() {
	t.mu.Lock()
	for _, p := range t.m {
		p.sess.inflight = 0
	}
	clear(t.m)
	t.mu.Unlock()
}
