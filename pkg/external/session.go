package external

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/nats-io/nats.go"
)

// writeTimeout bounds one batched write to a client. A client that accepts
// no bytes for this long is closed.
const writeTimeout = 10 * time.Second

// keepBatch is the largest batch slice a session keeps between writes.
const keepBatch = 256

// A link is one client connection seen through its transport's framing.
// read is called only by the session's reader goroutine; write and
// goodbye only by its writer (one at a time, see writeLoop); close by
// anyone, any number of times.
type link interface {
	// read returns the next envelope's bytes, valid until the next read.
	// It fails with a timeout error (net.Error) when no frame came within
	// Config.IdleTimeout.
	read() ([]byte, error)
	// write encodes and sends a batch of envelopes, as few writes as the
	// transport allows, within writeTimeout, and returns the bytes written.
	write(msgs []wire.Message) (int, error)
	// goodbye tells the client, best effort, that the server is closing
	// the connection on purpose (a WebSocket close frame).
	goodbye()
	// close closes the connection, unblocking read and write.
	close()
}

// closeMode says how a session's outbound queue was closed.
type closeMode uint8

const (
	open     closeMode = iota
	graceful           // send what is queued, say goodbye, close
	abort              // discard what is queued and close now
)

// session is one client connection: its identity, its codec and its
// outbound queue. A reader goroutine (serve) decodes frames and dispatches
// them; a writer goroutine (writeLoop) sends queued envelopes in batches.
// The writer runs only while there is something to send: the first send
// to an empty queue starts it and it ends when the queue is empty, so an
// idle session costs one goroutine, not two. Any goroutine may queue an
// envelope with send; it never blocks.
type session struct {
	id    uint64
	srv   *Server
	codec wire.Codec
	link  link
	log   *slog.Logger

	userID atomic.Int64 // 0 until bound; written under srv.mu
	closed atomic.Bool
	// ctl holds the attributes, logic bindings and bind state that
	// control messages change (attrs.go, bind.go).
	ctl sessionCtl

	// out is the outbound queue. writing is set while a writer goroutine
	// runs or is about to: whoever sets it starts one, and only the writer
	// clears it, when it finds the queue empty and the session open. Once
	// the session is closed the writer that carries out the close keeps
	// it set, so no other starts.
	outMu   sync.Mutex
	out     []wire.Message
	outMode closeMode
	writing bool
	// spare is the writer's second queue slice, swapped with out; only
	// the running writer uses it.
	spare []wire.Message

	// writerDone is closed when the writer has carried out the close.
	writerDone chan struct{}

	// in and pub are the reader goroutine's scratch: the envelope being
	// dispatched and the NATS message forwarding it (PublishMsg copies it
	// out before returning).
	in  wire.Message
	pub nats.Msg
	// limit is the reader goroutine's rate limiter (limit.go).
	limit limiter

	// inflight counts this session's entries in the pending table; it is
	// guarded by the pending table's mutex.
	inflight int
	// transport indexes the gate's per-transport session counts (stats.go).
	transport uint8
}

func newSession(srv *Server, id uint64, codec wire.Codec, l link, transport, remote string) *session {
	return &session{
		id:         id,
		srv:        srv,
		codec:      codec,
		link:       l,
		log:        srv.log.With("session", id, "transport", transport, "remote", remote),
		writerDone: make(chan struct{}),
		limit:      newLimiter(&srv.cfg),
		transport:  transportIndex(transport),
	}
}

// serve runs the session until its connection ends: it reads and
// dispatches frames, then tears the session down. It runs on the
// connection's own goroutine and returns when the writer has closed the
// connection.
func (s *session) serve() {
	for {
		b, err := s.link.read()
		if err != nil {
			switch {
			case errors.Is(err, errHandshakeTimeout): // edge.go
				if s.closeWith(abort) {
					s.srv.handshakeTimedOut(transports[s.transport], s.log) // s.log names the remote
				}
			case isTimeout(err) && s.idleOut(): // idle.go
			case s.closeWith(abort):
				if errors.Is(err, wire.ErrFrameTooLarge) {
					s.log.Info("closed session: frame too large", "err", err)
				} else {
					s.log.Debug("session ended", "err", err)
				}
			}
			break
		}
		s.srv.stats.bytesIn.Add(uint64(len(b)))
		m := &s.in
		if err := s.codec.UnmarshalMessage(b, m); err != nil {
			if s.closeWith(abort) {
				s.log.Info("closed session: malformed envelope", "err", err)
			}
			break
		}
		if s.admit(m) { // limit.go
			s.srv.dispatch(s, m)
		}
		// Drop the reference to the read buffer, which the link may give
		// back to a pool (ws.go) before it waits for the next frame.
		m.Data = nil
	}
	<-s.writerDone
	s.srv.removeSession(s)
}

// send queues m for the client. m.Data must stay unmodified until written.
// A full queue closes the session: a client that cannot keep up must not
// hold the gate's memory or stall the goroutine delivering replies.
func (s *session) send(m wire.Message) {
	if m.Status != 0 && m.CmdCode == wire.CmdBusiness {
		s.srv.stats.fail(m.Status) // stats.go
	}
	s.outMu.Lock()
	if s.outMode != open {
		s.outMu.Unlock()
		return
	}
	if len(s.out) >= s.srv.cfg.WriteQueue {
		s.outMu.Unlock()
		if s.closeWith(abort) {
			s.log.Warn("closed session: write queue full, client too slow", "queue", s.srv.cfg.WriteQueue)
		}
		return
	}
	s.out = append(s.out, m)
	start := !s.writing
	s.writing = true
	s.outMu.Unlock()
	if start {
		go s.writeLoop()
	}
}

// closeWith closes the session once and reports whether this call did;
// later calls do nothing. A graceful close lets the writer send what is
// queued first; an abort closes the connection at once. The caller logs
// why.
func (s *session) closeWith(mode closeMode) bool {
	if !s.closed.CompareAndSwap(false, true) {
		return false
	}
	s.setMode(mode)
	if mode == abort {
		s.link.close()
	}
	return true
}

// setMode sets the close mode and starts a writer to carry it out if none
// runs.
func (s *session) setMode(mode closeMode) {
	s.outMu.Lock()
	s.outMode = mode
	start := !s.writing
	s.writing = true
	s.outMu.Unlock()
	if start {
		go s.writeLoop()
	}
}

// kill closes the session now, cutting short a graceful close under way.
func (s *session) kill() {
	s.closed.Store(true)
	s.setMode(abort)
	s.link.close()
}

// take swaps the queue with spare and returns its contents and the mode.
// It reports done, and clears writing, when there is nothing to do: the
// queue is empty and the session open. The writer then ends.
func (s *session) take() (batch []wire.Message, mode closeMode, done bool) {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	batch, mode = s.out, s.outMode
	if len(batch) == 0 && mode == open {
		s.writing = false
		return nil, open, true
	}
	s.out = s.spare[:0]
	return batch, mode, false
}

// writeLoop sends queued envelopes until the queue is empty: everything
// queued since the last write goes out in one batch, so a burst of replies
// costs one flush. At most one writeLoop runs at a time (see writing); the
// one that finds the session closed closes the connection and writerDone.
func (s *session) writeLoop() {
	for {
		batch, mode, done := s.take()
		if done {
			return
		}
		if mode == abort {
			clear(batch)
			s.link.close()
			close(s.writerDone)
			return
		}
		if len(batch) > 0 {
			n, err := s.link.write(batch)
			s.srv.stats.bytesOut.Add(uint64(n))
			clear(batch) // drop references to payloads
			if err != nil {
				if s.closeWith(abort) {
					s.log.Debug("closed session: write failed", "err", err)
				}
				s.link.close()
				close(s.writerDone)
				return
			}
		}
		if cap(batch) <= keepBatch {
			s.spare = batch
		} else {
			s.spare = nil
		}
		if mode == graceful {
			s.link.goodbye()
			s.link.close()
			close(s.writerDone)
			return
		}
	}
}
