package logic

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/stats"
	"github.com/nats-io/nats.go"
)

// The inbound path: broker connection → hand-off channel → intake → inbox
// → dispatch loop → executors.
//
// Every subscription that carries requests (the routes' queue subjects,
// this instance's own subjects, the CallAll fan-out subjects) is a channel
// subscription on one channel, s.in. nats.go's reader goroutine sends each
// message to it in the order the broker delivered them, so a user's
// request to route A then route B reach the server in that order, whatever
// the routes — the order the executors keep. Callback subscriptions would
// not: nats.go runs each on its own goroutine, so two routes' messages
// race. But nats.go never blocks its reader: when a channel is full it
// drops the message (a slow consumer) and at most reports that to the
// connection's error handler, without the message — so it can be neither
// answered nor attributed. Nor is there an option for one goroutine to
// receive several subscriptions in order other than a shared channel.
//
// So the shared channel is only a hand-off that must never fill: the
// intake goroutine does nothing but move each message from it into the
// inbox, an unbounded FIFO under a mutex, at a few tens of nanoseconds a
// message, a fraction of what the reader spends parsing one. The inbox is
// where the bound (Config.Inbound) is applied: a message that finds
// Inbound messages already waiting is marked, and the dispatch loop
// answers it ErrBusy ("server busy") instead of dispatching it, counts it
// (stats.ShedInbound) and logs it (rate-limited, shed.go). Answering costs
// about what dispatching does, so the marked messages drain as fast as
// they come. What the hand-off could still lose — only if the intake
// goroutine got no CPU while the reader filled handoffMin messages — is
// counted from the subscriptions' own drop counters (Snapshot.Dropped,
// iogo_logic_dropped_total) and logged at error level.

// handoffMin is the least capacity of the hand-off channel.
const handoffMin = 4096

// inbox is the FIFO between the intake and the dispatch loop.
type inbox struct {
	max   int           // messages waiting beyond which one is refused
	ready chan struct{} // signalled (capacity 1) when msgs gains one or closes

	mu     sync.Mutex
	msgs   []inMsg // guarded by mu
	closed bool    // guarded by mu: the intake pushes no more

	n atomic.Int64 // messages pushed and not yet handled by the loop
}

// inMsg is a message in the inbox; over marks one that found the inbox
// full and is to be refused.
type inMsg struct {
	msg  *nats.Msg
	over bool
}

func newInbox(max int) *inbox {
	return &inbox{max: max, ready: make(chan struct{}, 1)}
}

func (b *inbox) push(m *nats.Msg) {
	over := b.n.Add(1) > int64(b.max)
	b.mu.Lock()
	b.msgs = append(b.msgs, inMsg{msg: m, over: over})
	b.mu.Unlock()
	b.signal()
}

func (b *inbox) signal() {
	select {
	case b.ready <- struct{}{}:
	default:
	}
}

// close says no more messages come.
func (b *inbox) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.signal()
}

// take returns the messages waiting, swapping in spare (emptied) for the
// next ones, and whether the inbox is closed.
func (b *inbox) take(spare []inMsg) ([]inMsg, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	msgs := b.msgs
	b.msgs = spare[:0]
	return msgs, b.closed
}

// intake moves messages from the hand-off channel into the inbox until
// the server stops, then moves what is left and closes the inbox.
func (s *Server) intake() {
	for {
		select {
		case m := <-s.in:
			s.inbox.push(m)
		case <-s.stop:
			for {
				select {
				case m := <-s.in:
					s.inbox.push(m)
				default:
					s.inbox.close()
					return
				}
			}
		}
	}
}

// loop hands every request to its user's executor in delivery order, and
// once a second writes the log lines that are due.
func (s *Server) loop() {
	defer close(s.loopDone)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var spare []inMsg
	for {
		msgs, closed := s.inbox.take(spare)
		for i := range msgs {
			if msgs[i].over {
				s.refuseInbound(msgs[i].msg)
			} else {
				s.dispatch(msgs[i].msg)
			}
			s.inbox.n.Add(-1)
			msgs[i] = inMsg{}
		}
		spare = msgs
		if len(msgs) > 0 {
			select { // also when the loop never runs out of work
			case now := <-tick.C:
				s.housekeep(now)
			default:
			}
			continue
		}
		if closed {
			return
		}
		select {
		case <-s.inbox.ready:
		case now := <-tick.C:
			s.housekeep(now)
		}
	}
}

// housekeep writes the log lines that are due: sheds, drops.
func (s *Server) housekeep(now time.Time) {
	s.logSheds(now)
	s.checkDropped()
}

// refuseInbound answers a message that found the inbox full.
func (s *Server) refuseInbound(msg *nats.Msg) {
	meta, err := fabric.ParseMeta(msg.Header)
	var r *Route
	if err == nil {
		r = s.table.Lookup(meta.Cmd, meta.Sub)
	}
	if r == nil {
		s.unrouted(msg, err, errs.ErrSystem)
		return
	}
	s.shed(&task{msg: msg, meta: meta, route: r}, stats.ShedInbound, ErrBusy)
}

// unrouted answers a request that names no route of this server (bad
// metadata, when err is set, or an unknown route) with e, counts it and
// logs it at most every shedLogEvery.
func (s *Server) unrouted(msg *nats.Msg, err error, e *errs.Error) {
	s.unroutedN.Add(1)
	now := time.Now().UnixNano()
	if last := s.unroutedLogged.Load(); now-last >= int64(shedLogEvery) && s.unroutedLogged.CompareAndSwap(last, now) {
		n := s.unroutedN.Load()
		s.log.Warn("requests refused before any route",
			slog.String("subject", msg.Subject), slog.Any("error", err),
			slog.Uint64("total", n), slog.Uint64("since_last_line", n-s.unroutedLast.Swap(n)))
	}
	s.respondError(msg, e)
}

// dropped returns the messages the broker client dropped on the server's
// subscriptions (routes and events): nats.go keeps the count per
// subscription.
func (s *Server) dropped() uint64 {
	var n uint64
	for _, sub := range s.watched {
		if d, err := sub.Dropped(); err == nil {
			n += uint64(d)
		}
	}
	return max(n, s.droppedMax.Load())
}

// checkDropped logs, at error level, messages the broker client dropped
// since the last check. Called once a second from the loop, so it logs at
// most once a second.
func (s *Server) checkDropped() {
	n := s.dropped()
	if last := s.droppedMax.Swap(n); n > last {
		s.log.Error("messages dropped by the broker client before reaching the server (slow consumer): not answered",
			slog.Uint64("dropped", n-last), slog.Uint64("total", n))
	}
}
