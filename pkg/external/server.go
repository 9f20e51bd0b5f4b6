package external

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/registry"
	"github.com/iogo-dev/iogo/pkg/trace"
	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// Errors returned by Start.
var (
	// ErrStarted is returned by a second call to Start.
	ErrStarted = errors.New("external: server already started")
	// ErrClosed is returned by Start after Shutdown.
	ErrClosed = errors.New("external: server closed")
)

// Lifecycle states of a Server.
const (
	stateNew = iota
	stateRunning
	stateClosed
)

// Server is an external server (gate): it holds client connections over
// WebSocket, TCP and KCP, forwards their requests to logic servers over
// NATS and relays replies and pushes back. Create it with New, serve with
// Start or Run, stop it with Shutdown.
type Server struct {
	cfg   Config // with defaults applied
	codec wire.Codec
	log   *slog.Logger
	epoch time.Time

	lifeMu sync.Mutex // serializes Start and Shutdown
	state  int        // guarded by lifeMu

	nc      *nats.Conn
	ownConn bool // nc was dialed by the server, which closes it
	subs    []*nats.Subscription
	pushCh  chan *nats.Msg
	ctlCh   chan *nats.Msg // control messages (control.go)

	// The route registry and its live view (registry.go), the push
	// transcoder (transcode.go), and the end of the view's and binds' life.
	reg     *registry.Registry
	view    *registry.View
	types   *transcoder
	endLife context.CancelFunc

	wsApp   *fiber.App
	mtr     *http.Server // MetricsAddr's server (metrics.go)
	mtrAddr atomic.Value // its bound address, a string
	wsLn    net.Listener
	tcpLn   net.Listener
	addrs   atomic.Pointer[[2]net.Addr] // bound WebSocket and TCP addresses
	kcp     kcpState                    // KCP listener (kcp.go)
	tls     tlsState                    // TLS of the WebSocket and TCP listeners (tls.go)
	auth    authState                   // the WebSocket upgrade hook's counters (auth.go)
	region  regionState                 // external-region actions (region.go)

	bufs    bufPool // encode and decode buffers of the links (bufpool.go)
	pending *pendingTable
	stats   *gateStats    // stats.go
	micro   micro.Service // the stats micro service, once started
	tr      *trace.Tracer // nil: tracing off (tracing.go)
	edge    *edgeState    // edge.go
	nextSID atomic.Uint64

	// mu guards the session and user tables and closing.
	mu       sync.RWMutex
	closing  bool
	sessions map[uint64]*session
	users    map[int64]*userEntry
	bySub    map[*nats.Subscription]*userEntry

	stopping chan struct{} // closed at shutdown once the requests in flight are answered
	draining atomic.Bool   // set when shutdown begins: new requests are refused
	stopped  chan struct{} // closed when Shutdown has finished
	wg       sync.WaitGroup
}

// New returns a server for cfg. It validates cfg and does no I/O.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	codec, _ := wire.CodecFor(cfg.Codec) // checked by Validate
	return &Server{
		cfg:      cfg,
		codec:    codec,
		log:      cfg.Logger.With("gate", cfg.ID),
		epoch:    time.Now(),
		pushCh:   make(chan *nats.Msg, pushBuffer),
		ctlCh:    make(chan *nats.Msg, ctlBuffer),
		pending:  newPendingTable(),
		stats:    newGateStats(),
		tr:       trace.New(cfg.TracerProvider),
		edge:     newEdgeState(&cfg),
		sessions: make(map[uint64]*session),
		users:    make(map[int64]*userEntry),
		bySub:    make(map[*nats.Subscription]*userEntry),
		stopping: make(chan struct{}),
		stopped:  make(chan struct{}),
	}, nil
}

// ID returns the gate's instance ID.
func (s *Server) ID() string { return s.cfg.ID }

// Start connects to the broker, reads the route registry, subscribes,
// binds the listeners and starts serving; it returns as soon as the server
// accepts connections. The registry lives in the broker's JetStream, so
// Start waits, within ctx, for a broker to answer. ctx bounds the start-up
// only: stop the server with Shutdown. On error, everything Start set up
// is torn down again.
func (s *Server) Start(ctx context.Context) error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	switch s.state {
	case stateRunning:
		return ErrStarted
	case stateClosed:
		return ErrClosed
	}
	if err := s.start(ctx); err != nil {
		s.state = stateClosed
		_ = s.teardown(context.Background())
		close(s.stopped)
		return err
	}
	s.state = stateRunning
	s.log.Info("external server started", "ws", addrString(s.WSAddr()), "tcp", addrString(s.TCPAddr()),
		"kcp", addrString(s.KCPAddr()))
	return nil
}

func (s *Server) start(ctx context.Context) error {
	if err := s.connect(ctx); err != nil {
		return err
	}
	life, endLife := context.WithCancel(context.Background())
	s.endLife = endLife
	if err := s.openRegistry(ctx, life); err != nil {
		return err
	}
	inbox, err := s.nc.Subscribe(fabric.GateInbox(s.cfg.ID), s.onReply)
	if err != nil {
		return fmt.Errorf("external: subscribe replies: %w", err)
	}
	// Replies are handled one at a time without blocking; let them queue
	// deeply rather than be dropped in a burst.
	_ = inbox.SetPendingLimits(-1, 256<<20)
	s.subs = append(s.subs, inbox)
	all, err := s.nc.ChanSubscribe(fabric.PushAll, s.pushCh)
	if err != nil {
		return fmt.Errorf("external: subscribe push-all: %w", err)
	}
	s.subs = append(s.subs, all)
	if err := s.subscribeControl(); err != nil {
		return err
	}
	if err := s.subscribeRegion(life); err != nil { // region.go
		return err
	}
	if s.nc.IsConnected() {
		fctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		err := s.nc.FlushWithContext(fctx)
		cancel()
		if err != nil {
			return fmt.Errorf("external: broker: %w", err)
		}
	}

	if err := s.setupTLS(); err != nil { // tls.go
		return err
	}
	var lc net.ListenConfig
	if s.cfg.TCPAddr != "" {
		if s.tcpLn, err = lc.Listen(ctx, "tcp", s.cfg.TCPAddr); err != nil {
			return fmt.Errorf("external: tcp: %w", err)
		}
		s.tcpLn = s.edgeListener(s.tcpLn, "tcp") // conns.go
		s.tcpLn = wrapTLS(s.tcpLn, s.tls.tcp)
	}
	if s.cfg.WSAddr != "" {
		if s.wsLn, err = lc.Listen(ctx, "tcp", s.cfg.WSAddr); err != nil {
			return fmt.Errorf("external: websocket: %w", err)
		}
		s.wsLn = s.edgeListener(s.wsLn, "ws") // conns.go
		s.wsLn = wrapTLS(s.wsLn, s.tls.ws)
		s.wsApp = s.newWSApp()
	}
	if err := s.listenKCP(ctx); err != nil {
		return err
	}
	if err := s.startMetrics(ctx); err != nil { // metrics.go
		return err
	}

	s.addrs.Store(&[2]net.Addr{lnAddr(s.wsLn), lnAddr(s.tcpLn)})
	s.startStats() // stats.go

	s.wg.Add(3)
	go s.pushLoop()
	go s.sweep()
	go s.controlLoop(life)
	if s.tcpLn != nil {
		s.wg.Add(1)
		go s.acceptTCP(s.tcpLn)
	}
	s.startKCP()
	if s.wsApp != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.wsApp.Listener(s.wsLn); err != nil && !errors.Is(err, net.ErrClosed) {
				s.log.Error("websocket server stopped", "err", err)
			}
		}()
	}
	return nil
}

// connect uses the configured connection or dials the brokers.
func (s *Server) connect(ctx context.Context) error {
	if s.cfg.Conn != nil {
		s.nc = s.cfg.Conn
	} else {
		nc, err := dial(ctx, s.cfg, s.log)
		if err != nil {
			return err
		}
		s.nc, s.ownConn = nc, true
	}
	if s.nc.IsConnected() && !s.nc.HeadersSupported() {
		return errors.New("external: the NATS server does not support headers")
	}
	return nil
}

// runShutdownTimeout bounds the graceful shutdown that ends Run.
const runShutdownTimeout = 10 * time.Second

// Run starts the server, serves until ctx ends, then shuts down, allowing
// the graceful part of the shutdown 10 seconds.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), runShutdownTimeout)
	defer cancel()
	return s.Shutdown(sctx)
}

// Shutdown stops accepting connections, closes every session after
// sending what is queued for it, drops the broker subscriptions and waits
// for all of the server's goroutines. If ctx ends first, the remaining
// sessions are cut off, the wait completes and ctx's error is returned.
// Shutdown is idempotent and safe on a nil *Server; a second call waits for
// the first to finish.
func (s *Server) Shutdown(ctx context.Context) error {
	if s == nil {
		return nil
	}
	s.lifeMu.Lock()
	prev := s.state
	s.state = stateClosed
	s.lifeMu.Unlock()
	switch prev {
	case stateNew:
		close(s.stopped)
		return nil
	case stateClosed:
		select {
		case <-s.stopped:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer close(s.stopped)
	s.log.Info("external server shutting down", "sessions", s.Sessions())
	return s.teardown(ctx)
}

// awaitPending waits, at most one request timeout and until ctx ends, for
// the answers of the requests in flight.
func (s *Server) awaitPending(ctx context.Context) {
	if s.pending.len() == 0 {
		return
	}
	limit := time.NewTimer(s.cfg.RequestTimeout)
	defer limit.Stop()
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for s.pending.len() > 0 {
		select {
		case <-poll.C:
		case <-limit.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// teardown undoes whatever start did, in order: listeners, sessions,
// subscriptions, goroutines, broker connection.
func (s *Server) teardown(ctx context.Context) error {
	s.stopStats() // stats.go
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	// Requests already forwarded get their answers before the sessions
	// close; new ones are refused with "server shutting down" (forward).
	s.draining.Store(true)
	s.awaitPending(ctx)
	close(s.stopping)
	if s.endLife != nil {
		s.endLife() // the route view, and binds in flight
	}

	if s.wsApp != nil {
		_ = s.wsApp.ShutdownWithContext(ctx)
	}
	if s.mtr != nil {
		_ = s.mtr.Shutdown(ctx)
	}
	for _, ln := range []net.Listener{s.wsLn, s.tcpLn} {
		if ln != nil {
			_ = ln.Close()
		}
	}
	s.mu.RLock()
	for _, sess := range s.sessions {
		sess.closeWith(graceful)
	}
	s.mu.RUnlock()
	for _, sub := range s.subs {
		_ = sub.Unsubscribe()
	}

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.mu.RLock()
		for _, sess := range s.sessions {
			sess.kill()
		}
		s.mu.RUnlock()
		<-done
	}
	s.closeKCP() // after the sessions: they share its socket

	s.mu.Lock()
	for _, u := range s.users {
		u.unsubscribe()
	}
	clear(s.users)
	clear(s.bySub)
	s.mu.Unlock()
	s.pending.clear()
	if s.view != nil {
		<-s.view.Done()
	}
	if s.ownConn && s.nc != nil {
		s.nc.Close()
	}
	return err
}

// WSAddr returns the WebSocket listener's address (the real port when
// WSAddr asked for port 0), nil if WebSocket is off or the server has not
// started.
func (s *Server) WSAddr() net.Addr {
	if a := s.addrs.Load(); a != nil {
		return a[0]
	}
	return nil
}

// TCPAddr returns the TCP listener's address, nil if TCP is off or the
// server has not started.
func (s *Server) TCPAddr() net.Addr {
	if a := s.addrs.Load(); a != nil {
		return a[1]
	}
	return nil
}

// Sessions returns the number of open client sessions.
func (s *Server) Sessions() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.sessions)
}

func lnAddr(ln net.Listener) net.Addr {
	if ln == nil {
		return nil
	}
	return ln.Addr()
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// addSession registers a new session and counts its goroutine in s.wg. It
// returns nil once shutdown has begun; the caller then closes the
// connection itself.
func (s *Server) addSession(codec wire.Codec, l link, transport, remote string) *session {
	sess := newSession(s, s.nextSID.Add(1), codec, l, transport, remote)
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote // a bare address, named by a proxy (proxy.go)
	}
	if host != "" {
		_ = sess.ctl.setAttrs(map[string]string{fabric.AttrIP: host}) // fits MaxAttrs by far
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil
	}
	s.sessions[sess.id] = sess
	s.stats.sessions[sess.transport].Add(1)
	s.wg.Add(1)
	sess.log.Debug("session opened")
	return sess
}

// removeSession forgets a closed session: its user binding and its pending
// requests go with it, and the user's registry entry no longer names it.
func (s *Server) removeSession(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess.id)
	s.stats.sessions[sess.transport].Add(-1)
	user := s.unbindLocked(sess)
	s.mu.Unlock()
	s.pending.dropSession(sess)
	if user == 0 {
		user = sess.ctl.kickedFrom.Load() // unbound by the kick
	}
	if user != 0 {
		s.release(user, sess.id) // bind.go
	}
}

// now is the server's monotonic clock, in nanoseconds since New.
func (s *Server) now() int64 { return int64(time.Since(s.epoch)) }

// dispatch handles one envelope from a client, on the session's reader
// goroutine. It never waits for the broker.
//
// A CmdCode other than heartbeat and business is answered with the same
// CmdCode, route and MsgID and status errs.CodeSystem, and the connection
// stays open: a newer client's message kind is refused, not fatal.
func (s *Server) dispatch(sess *session, m *wire.Message) {
	switch m.CmdCode {
	case wire.CmdHeartbeat:
		sess.send(wire.Message{CmdCode: wire.CmdHeartbeat, MsgID: m.MsgID})
	case wire.CmdBusiness:
		s.stats.request()
		s.forward(sess, m)
	default:
		sess.send(wire.Message{
			CmdCode:  m.CmdCode,
			CmdMerge: m.CmdMerge,
			MsgID:    m.MsgID,
			Status:   errs.CodeSystem,
			ValidMsg: fmt.Sprintf("unsupported cmdCode %d", m.CmdCode),
		})
	}
}

// forward publishes a business request to its route with a reply subject
// on this gate's inbox, and records it as pending. A request the route
// registry or the session's login refuses is answered at once, without a
// broker round trip (registry.go).
func (s *Server) forward(sess *session, m *wire.Message) {
	if sess.closed.Load() {
		return // kicked or closing: no answer could reach the client
	}
	if s.draining.Load() {
		sess.send(wire.Message{CmdCode: wire.CmdBusiness, CmdMerge: m.CmdMerge, MsgID: m.MsgID,
			Status: errs.CodeSystem, ValidMsg: "server shutting down"})
		return
	}
	cmd, sub := m.Cmd(), m.Sub()
	subject, bound, e := s.target(sess, cmd, sub)
	if e != nil {
		sess.send(wire.Message{
			CmdCode:  wire.CmdBusiness,
			CmdMerge: m.CmdMerge,
			MsgID:    m.MsgID,
			Status:   e.Code,
			ValidMsg: e.Msg,
		})
		return
	}
	meta := fabric.Meta{
		Cmd:     cmd,
		Sub:     sub,
		UserID:  sess.userID.Load(),
		Session: sess.id,
		Gate:    s.cfg.ID,
		MsgID:   m.MsgID,
		Attrs:   sess.ctl.attrsHeader(),
		Timeout: s.cfg.RequestTimeout,
	}
	if sess.codec.Name() != wire.NameProtobuf {
		meta.Codec = sess.codec.Name()
	}
	hdr := meta.Header()
	var span, fwd oteltrace.Span
	if s.tr != nil {
		span, fwd = s.traceForward(sess, &meta, hdr) // tracing.go
	}
	tok := s.pending.add(pendingReq{
		sess:     sess,
		deadline: s.now() + int64(s.cfg.RequestTimeout),
		msgID:    m.MsgID,
		cmdMerge: m.CmdMerge,
		bound:    bound,
		span:     span,
	})
	// m.Data aliases the connection's read buffer; PublishMsg copies it
	// into the NATS connection's buffer before returning.
	pub := &sess.pub
	*pub = nats.Msg{
		Subject: subject,
		Reply:   fabric.GateReply(s.cfg.ID, tok),
		Header:  hdr,
		Data:    m.Data,
	}
	err := s.nc.PublishMsg(pub)
	*pub = nats.Msg{}
	if fwd != nil {
		fwd.End()
	}
	if err == nil {
		return
	}
	p, ok := s.pending.take(tok)
	if !ok {
		return // already answered or expired
	}
	endSpan(p.span, errs.CodeSystem, "broker unavailable")
	sess.log.Warn("forward failed", "route", m.CmdMerge, "err", err)
	sess.send(wire.Message{
		CmdCode:  wire.CmdBusiness,
		CmdMerge: m.CmdMerge,
		MsgID:    m.MsgID,
		Status:   errs.CodeSystem,
		ValidMsg: "broker unavailable",
	})
}

// onReply relays a logic server's reply, or the broker's no-responders
// notice, to the session that sent the request. It runs on the inbox
// subscription's goroutine and never blocks.
func (s *Server) onReply(msg *nats.Msg) {
	tok, ok := fabric.ReplyToken(msg.Subject)
	if !ok {
		return
	}
	p, ok := s.pending.take(tok)
	if !ok {
		return // late: timed out, or its session is gone
	}
	resp := wire.Message{CmdCode: wire.CmdBusiness, CmdMerge: p.cmdMerge, MsgID: p.msgID}
	if fabric.IsNoResponders(msg) {
		e := errs.ErrRouteNotFound
		if p.bound {
			e = errs.ErrLogicGone // the bound instance left before the view knew
		}
		resp.Status, resp.ValidMsg = e.Code, e.Msg
		p.sess.send(resp)
		endSpan(p.span, e.Code, e.Msg)
		return
	}
	r, err := fabric.ParseReply(msg.Header)
	if err != nil {
		p.sess.log.Warn("malformed reply", "route", p.cmdMerge, "err", err)
		resp.Status, resp.ValidMsg = errs.CodeSystem, errs.ErrSystem.Msg
		p.sess.send(resp)
		endSpan(p.span, errs.CodeSystem, "malformed reply")
		return
	}
	endSpan(p.span, r.Status, r.Error)
	if r.Void {
		return // a request/void route: acknowledged, nothing for the client
	}
	resp.Status, resp.ValidMsg, resp.Data = r.Status, r.Error, msg.Data
	p.sess.send(resp)
}

// sweep answers requests whose reply is overdue with CodeSystem "request
// timeout". One ticker serves every pending request.
//
// When the broker connection drops, the requests pending at that moment are
// answered at once with CodeSystem "broker connection lost" instead: their
// requests or replies were on the lost connection, and a player should not
// wait a full timeout to learn it. Requests sent while the connection is
// being re-established wait in nats.go's reconnect buffer and go out on the
// new connection.
func (s *Server) sweep() {
	defer s.wg.Done()
	every := min(max(s.cfg.RequestTimeout/10, time.Millisecond), 500*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	lost := s.nc.StatusChanged(nats.RECONNECTING)
	defer s.nc.RemoveStatusListener(lost)
	var expired []pendingReq
	for {
		why := "request timeout"
		select {
		case <-t.C:
			expired = s.pending.expire(s.now(), expired[:0])
		case <-lost:
			why = "broker connection lost"
			expired = s.pending.expire(math.MaxInt64, expired[:0])
			if len(expired) > 0 {
				s.log.Warn("broker connection lost; failed the pending requests", "requests", len(expired))
			}
		case <-s.stopping:
			return
		}
		for i, p := range expired {
			p.sess.send(wire.Message{
				CmdCode:  wire.CmdBusiness,
				CmdMerge: p.cmdMerge,
				MsgID:    p.msgID,
				Status:   errs.CodeSystem,
				ValidMsg: why,
			})
			endSpan(p.span, errs.CodeSystem, why)
			expired[i] = pendingReq{}
		}
	}
}
