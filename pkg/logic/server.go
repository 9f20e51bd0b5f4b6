package logic

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/registry"
	"github.com/iogo-dev/iogo/pkg/stats"
	"github.com/iogo-dev/iogo/pkg/trace"
	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// Defaults of Config.
const (
	DefaultMaxPending      = 4096
	DefaultInbound         = 1 << 16
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultStartTimeout bounds Start when its context has no deadline.
	DefaultStartTimeout = 30 * time.Second
)

// ErrBusy is the answer to a request whose user already has
// Config.MaxPending requests waiting.
var ErrBusy = errs.ErrSystem.WithMsg("server busy")

// ErrExpired is the answer to a request whose caller (fabric.HeaderTimeout)
// stops waiting before its handler would be done: the time left when it
// leaves its queue is gone, or shorter than the route's recent handler
// time. Its handler is not run, so the server's time goes to requests that
// can still be answered in time.
var ErrExpired = errs.ErrSystem.WithMsg("request expired in queue")

// Config configures a logic server. The zero value of every optional field
// is a sensible default.
type Config struct {
	// Service names the service; its instances share a queue group, so a
	// request reaches exactly one of them. Required.
	Service string
	// Router supplies the routes (a *route.Router). Required.
	Router RouteSource
	// InstanceID identifies this instance; default: service + random suffix.
	InstanceID string
	// Version is reported in the service registry.
	Version string

	// Conn is an established broker connection (for example an in-process
	// one in `iogo dev`). The server does not close a Conn it was given.
	Conn *nats.Conn
	// Brokers are broker URLs to dial when Conn is nil; default
	// nats://127.0.0.1:4222. The connection reconnects forever.
	Brokers []string
	// NATSOptions are extra options for dialing Brokers (credentials, TLS).
	NATSOptions []nats.Option

	// MaxPending bounds the requests waiting per user; default
	// DefaultMaxPending.
	MaxPending int
	// Inbound bounds the requests received and not yet handed to an
	// executor; default DefaultInbound. A request beyond it is answered
	// ErrBusy at once and counted (stats.ShedInbound), never dropped
	// (inbound.go).
	Inbound int
	// ShutdownTimeout bounds how long Run waits for in-flight requests when
	// its context ends; default DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// StartTimeout bounds Start when its context has no deadline: 0 means
	// DefaultStartTimeout, a negative value no bound (a server started
	// before any broker then waits, however long, and joins when one
	// comes up).
	StartTimeout time.Duration

	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// TracerProvider traces requests, calls, events and pushes
	// (OpenTelemetry, W3C trace context in NATS headers; see package
	// trace); nil turns tracing off at no cost.
	TracerProvider oteltrace.TracerProvider
	// Debug prints a debug block per request (debug.go); nil, the default,
	// prints nothing at no cost. `iogo dev` turns it on.
	Debug *DebugConfig
	// DisableStats turns off the per-route stats and the NATS micro
	// service that publishes them (package stats, statsrv.go).
	DisableStats bool
	// Stats tunes what the stats keep: RecentErrors, Slowest, SlowMin and
	// SlowWindow of stats.Config (Service, Instance and Routes are the
	// server's own). The zero value keeps the defaults.
	Stats stats.Config
	// DurableBus carries the durable events (Delivery Durable,
	// PublishDurable) of the server and its Client; nil: JetStream on the
	// broker connection. The server does not close it.
	DurableBus DurableBus

	// Init, when set, runs during Start once the broker connection and
	// the server's Client exist and before any route is subscribed: the
	// place for a service to open its storage (package store) and load
	// its state, so that no request finds it unready. An error aborts
	// Start.
	Init func(ctx context.Context, srv *Server) error
}

// Validate fills in defaults and reports a missing or invalid field.
func (c *Config) Validate() error {
	if c.Service == "" {
		return errors.New("logic: Config.Service is required")
	}
	if strings.ContainsAny(c.Service, ".*> \t\r\n") {
		return fmt.Errorf("logic: service name %q is not a NATS token", c.Service)
	}
	if c.Router == nil {
		return errors.New("logic: Config.Router is required")
	}
	if c.InstanceID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		c.InstanceID = c.Service + "-" + hex.EncodeToString(b[:])
	}
	if strings.ContainsAny(c.InstanceID, ".*> \t\r\n") {
		return fmt.Errorf("logic: instance ID %q is not a NATS token", c.InstanceID)
	}
	if c.Conn == nil && len(c.Brokers) == 0 {
		c.Brokers = []string{nats.DefaultURL}
	}
	if c.MaxPending <= 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.Inbound <= 0 {
		c.Inbound = DefaultInbound
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Server is a running logic server: one instance of one service.
type Server struct {
	cfg         Config
	log         *slog.Logger
	table       *Table
	pushes      []PushRoute
	descriptors []byte // FileDescriptorSet of the payload types
	exec        *executors
	tr          *trace.Tracer   // nil: tracing off
	debug       *debugOut       // nil: no debug blocks
	stats       *stats.Recorder // nil: DisableStats
	micro       micro.Service   // the stats micro service, once started
	ctxs        sync.Pool

	nc        *nats.Conn
	ownConn   bool
	client    *Client
	in        chan *nats.Msg // the hand-off from the broker connection (inbound.go)
	inbox     *inbox
	subs      []*nats.Subscription
	events    eventSubs            // event-bus subscriptions (event.go)
	watched   []*nats.Subscription // every core subscription, for drop counts; fixed at Start
	startedAt time.Time

	unroutedN      atomic.Uint64 // requests refused before any route (inbound.go)
	unroutedLast   atomic.Uint64 // unroutedN at the last log line
	unroutedLogged atomic.Int64  // the last log line, Unix ns
	droppedMax     atomic.Uint64 // the drop count last logged

	status chan nats.Status // connection events for the heartbeats
	hbStop chan struct{}    // closed to end the heartbeats
	hbDone chan struct{}
	hbCtx  context.Context // cancelled to abort a registry write in flight
	hbEnd  context.CancelFunc

	ctx      context.Context // request context, cancelled after shutdown
	cancel   context.CancelFunc
	stop     chan struct{} // closed to end the dispatch loop
	loopDone chan struct{}
	started  atomic.Bool
	running  atomic.Bool // Start succeeded
	stopped  atomic.Bool
}

// New checks cfg and builds the route table; it does no I/O. Duplicate or
// invalid routes are reported here.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	routes, err := cfg.Router.Routes()
	if err != nil {
		return nil, err
	}
	if es, ok := cfg.Router.(EventSource); len(routes) == 0 && (!ok || len(es.Events()) == 0) { // event.go
		return nil, fmt.Errorf("logic: service %s has no routes and no event subscriptions", cfg.Service)
	}
	table, err := NewTable(routes)
	if err != nil {
		return nil, err
	}
	var pushes []PushRoute
	if ps, ok := cfg.Router.(PushSource); ok {
		pushes = ps.Pushes()
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger.With(slog.String("service", cfg.Service), slog.String("instance", cfg.InstanceID)),
		table:    table,
		pushes:   pushes,
		stop:     make(chan struct{}),
		loopDone: make(chan struct{}),
		hbStop:   make(chan struct{}),
		hbDone:   make(chan struct{}),
		tr:       trace.New(cfg.TracerProvider),
		debug:    newDebugOut(cfg.Debug),
	}
	set, missing, err := descriptorSet(payloadTypes(table.Routes(), pushes))
	if err != nil {
		return nil, fmt.Errorf("logic: descriptors: %w", err)
	}
	if len(missing) > 0 {
		s.log.Warn("payload types not linked in; JSON clients cannot use them", slog.Any("types", missing))
	}
	s.descriptors = set
	s.exec = newExecutors(cfg.MaxPending, s.run)
	if !cfg.DisableStats {
		s.stats = newRecorder(s)
		s.exec.rec = s.stats
	}
	s.ctxs.New = func() any { return &Ctx{buf: make([]byte, 0, 256)} }
	return s, nil
}

// Service returns the service name.
func (s *Server) Service() string { return s.cfg.Service }

// InstanceID returns this instance's ID.
func (s *Server) InstanceID() string { return s.cfg.InstanceID }

// Routes returns the routes this server serves.
func (s *Server) Routes() []Route { return s.table.Routes() }

// Pushes returns the pushes this server declares.
func (s *Server) Pushes() []PushRoute { return s.pushes }

// Logger returns the server's logger (Config.Logger, tagged with the
// service and instance), for code a service runs beside its handlers.
func (s *Server) Logger() *slog.Logger { return s.log }

// Conn returns the server's broker connection; nil before Start.
func (s *Server) Conn() *nats.Conn { return s.nc }

// Client returns the server's cluster client (pushes, calls, the external
// region, bindings), for code outside handlers: timers, background jobs.
// It is nil before Start.
func (s *Server) Client() *Client { return s.client }

// Start connects to the broker (when no Conn was given), publishes the
// routes in the registry, subscribes every route — with the service's
// queue group, and on this instance's own subjects for users bound to it —
// then registers the instance, and returns once all of that is done. It
// does not block afterwards: heartbeats keep the registration alive, also
// across broker restarts. Without a deadline on ctx, Start gives up after
// Config.StartTimeout.
func (s *Server) Start(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("logic: server already started")
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if _, ok := ctx.Deadline(); !ok && s.cfg.StartTimeout >= 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cmp.Or(s.cfg.StartTimeout, DefaultStartTimeout))
		defer cancel()
	}
	s.startedAt = time.Now().UTC()
	if err := s.connect(); err != nil {
		s.cancel()
		return err
	}
	if err := s.awaitBroker(ctx); err != nil {
		s.abort()
		return err
	}
	cl, err := NewClient(ctx, ClientConfig{Conn: s.nc, Logger: s.log, TracerProvider: s.cfg.TracerProvider,
		DurableBus: s.cfg.DurableBus})
	if err != nil {
		s.abort()
		return err
	}
	s.client = cl
	if s.cfg.Init != nil {
		if err := s.cfg.Init(ctx, s); err != nil {
			s.abort()
			return fmt.Errorf("logic: init %s: %w", s.cfg.Service, err)
		}
	}
	if err := s.retryRegistry(ctx, "read instances", s.warnSharedRoutes); err != nil {
		s.abort()
		return err
	}
	// A route at a time, so that each retry attempt (bounded, see
	// store.RetryJetStream) has one read and one write to do however
	// many routes the service has.
	for _, rt := range s.registryRoutes() {
		if err := s.retryRegistry(ctx, "publish routes", func(ctx context.Context) error {
			return cl.Registry().PublishRoutes(ctx, []registry.Route{rt})
		}); err != nil {
			s.abort()
			return fmt.Errorf("logic: publish routes: %w", err)
		}
	}
	s.in = make(chan *nats.Msg, max(s.cfg.Inbound, handoffMin))
	s.inbox = newInbox(s.cfg.Inbound)
	for _, r := range s.table.Routes() {
		sub, err := s.nc.ChanQueueSubscribe(fabric.Request(r.Cmd, r.Sub), fabric.Queue(s.cfg.Service), s.in)
		if err != nil {
			s.abort()
			return fmt.Errorf("logic: subscribe %s: %w", r.String(), err)
		}
		s.subs = append(s.subs, sub)
		sub, err = s.nc.ChanSubscribe(fabric.Instance(s.cfg.InstanceID, r.Cmd, r.Sub), s.in)
		if err != nil {
			s.abort()
			return fmt.Errorf("logic: subscribe %s: %w", r.String(), err)
		}
		s.subs = append(s.subs, sub)
	}
	// Fan-out subjects (CallAll) and the event bus: call.go, event.go.
	if err := s.subscribeBus(ctx); err != nil {
		s.abort()
		return err
	}
	s.watched = append(slices.Clip(s.subs), s.events.subs...)
	if err := s.flush(ctx); err != nil {
		s.abort()
		return err
	}
	if err := s.startStats(); err != nil { // statsrv.go
		s.abort()
		return err
	}
	// Listen for reconnects before the first heartbeat, so that none is
	// missed in between.
	s.status = s.nc.StatusChanged(nats.CONNECTED)
	if err := s.retryRegistry(ctx, "register instance", func(ctx context.Context) error {
		return cl.Registry().Heartbeat(ctx, s.instance())
	}); err != nil {
		s.abort()
		return fmt.Errorf("logic: register instance: %w", err)
	}
	s.hbCtx, s.hbEnd = context.WithCancel(s.ctx)
	go s.intake()
	go s.loop()
	go s.heartbeats(s.status)
	s.running.Store(true)
	s.log.Info("logic server started", slog.Int("routes", len(s.table.Routes())))
	return nil
}

// Run starts the server, blocks until ctx ends, then shuts down gracefully
// within Config.ShutdownTimeout.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	return s.Shutdown(sctx)
}

// Shutdown removes the instance from the registry, stops taking requests,
// lets queued and running ones finish (until ctx ends), and closes the
// broker connection if the server opened it. It is idempotent and safe on a
// nil Server and on one whose Start did not succeed.
func (s *Server) Shutdown(ctx context.Context) error {
	if s == nil || !s.running.Load() || !s.stopped.CompareAndSwap(false, true) {
		return nil
	}
	// Deregister first: external servers stop routing bound users here
	// (they answer them errs.CodeLogicGone) while requests in flight finish.
	s.stopHeartbeats()
	s.stopStats()
	if !s.nc.IsConnected() {
		// No broker to drain through: nothing more can arrive, so stop
		// listening and finish what is queued. The registry entry expires
		// by its TTL.
		s.log.Warn("shutting down without a broker connection")
		s.events.unsubscribe()
		for _, sub := range s.subs {
			_ = sub.Unsubscribe()
		}
		return s.finish(ctx, nil, nil)
	}
	s.deregister(ctx)
	// Events stop first: their handlers may still call routes (event.go).
	evErr := s.events.drain(ctx)
	// Drain removes interest at the broker but keeps delivering what is
	// already on the way; once the flush returns, the broker has processed
	// the unsubscriptions and every request it sent us is in s.in. Requests
	// published later find no responder, or another instance, instead of
	// being lost.
	for _, sub := range s.subs {
		_ = sub.Drain()
	}
	return s.finish(ctx, evErr, s.flush(ctx))
}

// finish ends a shutdown: the dispatch loop hands on what is buffered, the
// executors run what is queued (until ctx ends), then the connection
// closes if the server opened it.
func (s *Server) finish(ctx context.Context, evErr, err error) error {
	// The loop dispatches what is buffered and exits.
	close(s.stop)
	if err == nil {
		select {
		case <-s.loopDone:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err == nil {
		done := make(chan struct{})
		go func() { s.exec.wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	err = errors.Join(evErr, err)
	s.cancel()
	if s.ownConn {
		// The last replies may still be in the connection's buffer: a
		// flush (a ping the broker answers after reading them) makes sure
		// the broker has them before the socket closes.
		if wait := closeFlushTimeout; s.nc.IsConnected() && ctx.Err() == nil {
			if d, ok := ctx.Deadline(); ok {
				wait = min(wait, time.Until(d))
			}
			_ = s.nc.FlushTimeout(max(wait, time.Millisecond))
		}
		s.nc.Close()
	}
	if err != nil {
		return fmt.Errorf("logic: shutdown: %w", err)
	}
	s.log.Info("logic server stopped")
	return nil
}

func (s *Server) connect() error {
	if s.cfg.Conn != nil {
		s.nc = s.cfg.Conn
		return nil
	}
	opts := append([]nats.Option{
		nats.Name("iogo-logic " + s.cfg.InstanceID),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			s.log.Warn("broker connection lost", slog.Any("error", err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			s.log.Info("broker reconnected", slog.String("url", nc.ConnectedUrlRedacted()))
		}),
	}, s.cfg.NATSOptions...)
	nc, err := nats.Connect(strings.Join(s.cfg.Brokers, ","), opts...)
	if err != nil {
		return fmt.Errorf("logic: connect to broker: %w", err)
	}
	s.nc, s.ownConn = nc, true
	return nil
}

// awaitBroker returns once the connection is up: a server started before
// any broker waits here (nats.go retries the connect in the background)
// rather than letting each JetStream call time out on its own.
func (s *Server) awaitBroker(ctx context.Context) error {
	if s.nc.IsConnected() {
		return nil
	}
	up := s.nc.StatusChanged(nats.CONNECTED)
	defer s.nc.RemoveStatusListener(up)
	if s.nc.IsConnected() { // connected between the check and the listener
		return nil
	}
	s.log.Warn("no broker reachable yet; waiting for one", slog.Any("brokers", s.cfg.Brokers))
	select {
	case <-up:
		s.log.Info("broker connected", slog.String("url", s.nc.ConnectedUrlRedacted()))
		return nil
	case <-ctx.Done():
		return fmt.Errorf("logic: waiting for a broker: %w", ctx.Err())
	}
}

// flush waits until the broker has processed the subscriptions. With
// RetryOnFailedConnect the connection may still be pending: then the
// subscriptions are sent when it comes up and there is nothing to wait for.
func (s *Server) flush(ctx context.Context) error {
	if !s.nc.IsConnected() {
		s.log.Warn("no broker yet; routes will be served once connected")
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, flushTimeout)
		defer cancel()
	}
	if err := s.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("logic: flush subscriptions: %w", err)
	}
	return nil
}

func (s *Server) abort() {
	s.stopStats()
	for _, sub := range s.subs {
		_ = sub.Unsubscribe()
	}
	s.events.unsubscribe() // event.go
	if s.status != nil {
		s.nc.RemoveStatusListener(s.status)
	}
	s.cancel()
	if s.ownConn {
		s.nc.Close()
	}
}

func (s *Server) dispatch(msg *nats.Msg) {
	meta, err := fabric.ParseMeta(msg.Header)
	if err != nil {
		s.unrouted(msg, err, errs.ErrSystem) // inbound.go
		return
	}
	r := s.table.Lookup(meta.Cmd, meta.Sub)
	if r == nil {
		s.unrouted(msg, nil, errs.ErrRouteNotFound)
		return
	}
	t := task{msg: msg, meta: meta, route: r}
	if meta.Timeout > 0 {
		t.expires = time.Now().Add(meta.Timeout)
	}
	if !s.exec.submit(keyOf(&meta), t) {
		s.shed(&t, stats.ShedBusy, ErrBusy) // the user's queue is full (shed.go)
	}
}

// run executes one request, or one Exec function, on its executor's
// goroutine, and answers the request.
func (s *Server) run(t task) {
	if t.fn != nil {
		s.runFn(t)
		return
	}
	var probe bool
	if !t.expires.IsZero() {
		// The caller stops waiting before the handler would be done
		// (or already has): shed the request rather than run work
		// nobody waits for, so that a backlog drains fast once the
		// load falls (shed.go).
		now := time.Now()
		var run bool
		var why stats.ShedReason
		if run, probe, why = t.route.load.admit(now, t.expires.Sub(now)); !run {
			s.shed(&t, why, ErrExpired)
			return
		}
	}
	codec, err := wire.CodecFor(t.meta.Codec)
	if err != nil {
		if probe {
			t.route.load.observe(time.Now(), 0, true) // ends the probe
		}
		s.respondError(t.msg, errs.ErrValidation.WithMsg(err.Error()))
		return
	}
	c := s.ctxs.Get().(*Ctx)
	c.reset(s.ctx, t.meta, codec, s)
	c.deadline = t.expires
	var span oteltrace.Span
	if s.tr != nil {
		span = s.traceRequest(c, t) // tracing.go
	}
	var debugBegan time.Time
	if s.debug != nil {
		debugBegan = s.debug.cfg.Now()
	}
	t.route.load.begin() // shed.go
	out, e := t.route.Serve(c, t.msg.Data)
	t.route.load.end()
	if s.stats != nil {
		// statsrv.go; t.at: when the task began to run
		took := s.observe(&t, span, t.at, e)
		t.route.load.observe(t.at.Add(took), took, probe) // shed.go
	}
	if s.debug != nil {
		s.debugRun(t, c, debugBegan, out, e) // debug.go
	}
	if span != nil {
		endSpan(span, e)
	}
	switch {
	case e != nil:
		s.respondError(t.msg, e)
	case t.route.Void:
		s.respond(t.msg, nil, fabric.Reply{Void: true})
	default:
		s.respond(t.msg, out, fabric.Reply{})
	}
	if cap(out) <= maxKeptBuffer && cap(out) > cap(c.buf) {
		c.buf = out[:0]
	}
	c.ctx, c.srv = nil, nil
	s.ctxs.Put(c)
}

// flushTimeout bounds the wait for the broker to register subscriptions
// when the caller's context has no deadline.
const flushTimeout = 10 * time.Second

// closeFlushTimeout bounds the wait for the broker to take the last
// replies before a shutdown closes the connection.
const closeFlushTimeout = 2 * time.Second

// maxKeptBuffer is the largest response buffer a pooled Ctx keeps.
const maxKeptBuffer = 64 << 10

func (s *Server) respondError(msg *nats.Msg, e *errs.Error) {
	s.respond(msg, nil, fabric.Reply{Status: e.Code, Error: e.Msg})
}

func (s *Server) respond(msg *nats.Msg, data []byte, r fabric.Reply) {
	if msg.Reply == "" {
		return
	}
	if fabric.IsAll(msg.Subject) {
		// A fan-out reply names its instance, for CallAll (call.go). Other
		// replies carry no header on success: the hot path stays lean.
		r.Instance = s.cfg.InstanceID
	}
	err := s.nc.PublishMsg(&nats.Msg{Subject: msg.Reply, Data: data, Header: r.Header()})
	if err != nil {
		s.log.Warn("reply not sent", slog.String("reply", msg.Reply), slog.Any("error", err))
	}
}
