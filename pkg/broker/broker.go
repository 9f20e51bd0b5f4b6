package broker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/iogo-dev/iogo/pkg/fabric"
)

// Lifecycle errors.
var (
	// ErrNotStarted is returned by methods that need a running server when
	// Start has not been called.
	ErrNotStarted = errors.New("broker: not started")
	// ErrAlreadyStarted is returned by a second call to Start.
	ErrAlreadyStarted = errors.New("broker: already started")
	// ErrClosed is returned by Start and InProcessConn after Shutdown.
	ErrClosed = errors.New("broker: shut down")
)

// Timings of the lifecycle.
const (
	// readyPoll bounds one wait for the NATS listeners, so that Start
	// notices ctx and fatal server errors in between.
	readyPoll = 50 * time.Millisecond
	// metaPollMin and metaPollMax pace the wait for a JetStream meta leader.
	metaPollMin = 5 * time.Millisecond
	metaPollMax = 100 * time.Millisecond
	// runShutdownTimeout bounds the Shutdown that Run does after ctx ends.
	runShutdownTimeout = 30 * time.Second
)

// Broker is one embedded NATS node with JetStream. Create it with [New].
// All methods are safe for concurrent use.
type Broker struct {
	cfg Config // validated, defaults applied; never changed after New
	log *slog.Logger

	started atomic.Bool
	closed  atomic.Bool
	srv     atomic.Pointer[server.Server]
	fatal   chan error    // first fatal error reported by the NATS server
	done    chan struct{} // closed when Shutdown has finished

	mu       sync.Mutex     // guards tmpStore, replicas and the hand-over of srv from Start to Shutdown
	tmpStore string         // temporary JetStream store owned by the broker
	replicas int            // replica count of the framework buckets, set by Start
	metrics  *metricsServer // MetricsAddr's server (metrics.go), set by Start

	// internal is the user InProcessConn connects as when the broker
	// requires authentication, roles those InProcessConnAs connects as:
	// random per process, never shown, in-process connections only.
	internal credential
	roles    map[string]credential
}

// credential is a user name and password.
type credential struct{ user, password string }

// newCredential returns a random user of the given kind.
func newCredential(kind string) credential {
	return credential{user: "iogo-internal-" + kind + "-" + rand.Text()[:8], password: rand.Text()}
}

// New validates cfg and returns a broker that is not started. It does no I/O.
func New(cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	b := &Broker{
		cfg:   cfg,
		log:   cfg.Logger.With(slog.String("broker", cfg.Name)),
		fatal: make(chan error, 1),
		done:  make(chan struct{}),
	}
	b.internal = newCredential("broker")
	b.roles = make(map[string]credential)
	for _, r := range fabric.Roles() {
		b.roles[r] = newCredential(r)
	}
	return b, nil
}

// Name returns the node's server name.
func (b *Broker) Name() string { return b.cfg.Name }

// Start starts the NATS server and returns once it accepts connections and,
// with JetStream, once the framework KV buckets exist (see [EnsureBuckets]).
// A clustered node therefore returns only when its cluster has elected a
// JetStream meta leader and placed the replicated buckets. A fresh cluster
// (empty stores) elects its first leader only when every node of the route
// list is running; later a majority suffices. When the nodes of a fresh
// cluster start together this takes about 0.5–1 s, but when an election
// splits the vote, NATS waits out a Raft election timeout and it takes
// 5–10 s; give ctx a generous deadline, or none.
//
// ctx bounds the start-up only; the server keeps running after Start returns
// until [Broker.Shutdown]. If Start fails, the broker is shut down and cannot
// be started again. Start may be called once.
func (b *Broker) Start(ctx context.Context) error {
	if b.closed.Load() {
		return ErrClosed
	}
	if !b.started.CompareAndSwap(false, true) {
		return ErrAlreadyStarted
	}
	if err := b.start(ctx); err != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), runShutdownTimeout)
		defer cancel()
		_ = b.Shutdown(sctx)
		return err
	}
	return nil
}

func (b *Broker) start(ctx context.Context) error {
	storeDir := b.cfg.StoreDir
	var tmp string
	if !b.cfg.DisableJetStream && storeDir == "" {
		var err error
		if tmp, err = os.MkdirTemp("", "iogo-broker-*"); err != nil {
			return fmt.Errorf("broker: store dir: %w", err)
		}
		storeDir = tmp
	}
	opts, err := b.serverOptions(storeDir)
	if err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("broker: %w", err)
	}
	srv.SetLoggerV2(natsLogger{log: b.log, onFatal: b.reportFatal},
		b.log.Enabled(ctx, slog.LevelDebug), false, false)

	// Hand srv and tmp over to Shutdown, unless it has already run. The
	// server starts under the lock, so that a concurrent Shutdown stops a
	// started server rather than one that starts after it.
	b.mu.Lock()
	if b.closed.Load() {
		b.mu.Unlock()
		_ = os.RemoveAll(tmp)
		return ErrClosed
	}
	b.tmpStore = tmp
	b.srv.Store(srv)
	srv.Start()
	b.mu.Unlock()

	if err := b.waitReady(ctx, srv); err != nil {
		return err
	}
	if b.cfg.DisableJetStream {
		b.log.Info("broker ready", slog.String("url", b.ClientURL()))
		return nil
	}
	size, err := b.waitMetaLeader(ctx, srv)
	if err != nil {
		return err
	}
	replicas := ReplicasFor(size)
	nc, err := b.InProcessConn(nats.Name(b.cfg.Name + "-setup"))
	if err != nil {
		return fmt.Errorf("broker: in-process connection: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	if err := EnsureBuckets(ctx, js, replicas); err != nil {
		return err
	}
	b.mu.Lock()
	b.replicas = replicas
	b.mu.Unlock()
	if err := b.startMetrics(); err != nil {
		return err
	}
	b.log.Info("broker ready", slog.String("url", b.ClientURL()), slog.Int("replicas", replicas))
	return nil
}

// serverOptions translates the configuration into NATS server options.
func (b *Broker) serverOptions(storeDir string) (*server.Options, error) {
	c := b.cfg
	opts := &server.Options{
		ServerName:             c.Name,
		Host:                   c.Host,
		Port:                   c.Port,
		DontListen:             c.DontListen,
		ClientAdvertise:        c.ClientAdvertise,
		JetStream:              !c.DisableJetStream,
		StoreDir:               storeDir,
		DisableJetStreamBanner: true,
		HTTPHost:               c.Host,
		HTTPPort:               c.HTTPPort,
		MaxPayload:             c.MaxPayload,
		NoSigs:                 true,
	}
	if c.Authenticated() {
		inProcess := map[string]struct{}{jwt.ConnectionTypeInProcess: {}}
		if c.User != "" {
			opts.Users = append(opts.Users, &server.User{Username: c.User, Password: c.Password})
		}
		opts.Users = append(opts.Users, &server.User{Username: b.internal.user, Password: b.internal.password,
			AllowedConnectionTypes: inProcess})
		for _, r := range fabric.Roles() {
			perms, _ := Permissions(r)
			cr := b.roles[r]
			opts.Users = append(opts.Users, &server.User{Username: cr.user, Password: cr.password,
				Permissions: perms, AllowedConnectionTypes: inProcess})
		}
		for _, k := range c.NKeys {
			opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: k})
		}
		for _, u := range c.Users {
			perms, ok := Permissions(u.Role)
			if !ok { // Validate has checked them; keep the guard.
				return nil, fmt.Errorf("%w: unknown role %q", ErrInvalidConfig, u.Role)
			}
			if u.NKey != "" {
				opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: u.NKey, Permissions: perms})
			} else {
				opts.Users = append(opts.Users, &server.User{Username: u.Name, Password: u.Password, Permissions: perms})
			}
		}
	}
	if c.Clustered() {
		opts.Cluster = server.ClusterOpts{
			Name:      c.ClusterName,
			Host:      c.ClusterHost,
			Port:      c.ClusterPort,
			Advertise: c.ClusterAdvertise,
			Username:  c.User,
			Password:  c.Password,
		}
		for _, r := range c.Routes {
			u, err := parseRoute(r)
			if err != nil { // Validate has checked them; keep the guard.
				return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
			}
			if c.User != "" && u.User == nil {
				u.User = url.UserPassword(c.User, c.Password)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	return opts, nil
}

// reportFatal records the first fatal error of the NATS server.
func (b *Broker) reportFatal(msg string) {
	select {
	case b.fatal <- fmt.Errorf("broker: nats: %s", msg):
	default:
	}
}

// waitReady waits until srv accepts connections, ctx ends or srv reports a
// fatal error (such as a port in use).
func (b *Broker) waitReady(ctx context.Context, srv *server.Server) error {
	for {
		select {
		case err := <-b.fatal:
			return err
		case <-ctx.Done():
			return fmt.Errorf("broker: waiting for the server: %w", ctx.Err())
		default:
		}
		if b.closed.Load() {
			return ErrClosed
		}
		if srv.ReadyForConnections(readyPoll) {
			// A fatal error may also come after the listeners are up
			// (for example JetStream failing to start).
			select {
			case err := <-b.fatal:
				return err
			default:
				return nil
			}
		}
	}
}

// waitMetaLeader waits until JetStream on srv is usable and returns the size
// of the JetStream cluster (1 when not clustered): the number of distinct
// route URLs (the full list names every node) or the size of the JetStream
// meta group, whichever is larger. The meta group alone is not enough: it
// briefly counts fewer peers while it adds them after an election.
func (b *Broker) waitMetaLeader(ctx context.Context, srv *server.Server) (int, error) {
	if !b.cfg.Clustered() {
		if !srv.JetStreamEnabled() {
			return 0, errors.New("broker: JetStream did not start")
		}
		return 1, nil
	}
	pause := metaPollMin
	timer := time.NewTimer(pause)
	defer timer.Stop()
	for {
		if b.closed.Load() {
			return 0, ErrClosed
		}
		if info, err := srv.Jsz(&server.JSzOptions{}); err == nil && info.Meta != nil && info.Meta.Leader != "" {
			b.log.Debug("JetStream meta leader known",
				slog.String("leader", info.Meta.Leader), slog.Int("cluster_size", info.Meta.Size))
			return max(info.Meta.Size, b.routeCount()), nil
		}
		select {
		case err := <-b.fatal:
			return 0, err
		case <-ctx.Done():
			return 0, fmt.Errorf("broker: waiting for a JetStream meta leader: %w", ctx.Err())
		case <-timer.C:
		}
		pause = min(2*pause, metaPollMax)
		timer.Reset(pause)
	}
}

// routeCount returns the number of distinct route URLs.
func (b *Broker) routeCount() int {
	seen := make(map[string]struct{}, len(b.cfg.Routes))
	for _, r := range b.cfg.Routes {
		if u, err := parseRoute(r); err == nil {
			seen[u.Host] = struct{}{}
		}
	}
	return len(seen)
}

// Run starts the broker, blocks until ctx ends, then shuts it down. It
// returns nil after a clean shutdown, or the error of Start or Shutdown.
func (b *Broker) Run(ctx context.Context) error {
	if err := b.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), runShutdownTimeout)
	defer cancel()
	return b.Shutdown(sctx)
}

// Shutdown stops the server, waits for it to finish and removes the temporary
// store directory, if the broker made one. It is idempotent and safe on a nil
// or never-started broker; a second call waits for the first to finish. If
// ctx ends first, Shutdown returns ctx.Err() and the shutdown completes in the
// background.
func (b *Broker) Shutdown(ctx context.Context) error {
	if b == nil {
		return nil
	}
	if b.closed.CompareAndSwap(false, true) {
		b.mu.Lock()
		srv, tmp, metrics := b.srv.Load(), b.tmpStore, b.metrics
		b.mu.Unlock()
		go func() {
			defer close(b.done)
			metrics.stop()
			if srv != nil {
				srv.Shutdown()
				srv.WaitForShutdown()
			}
			if tmp != "" {
				if err := os.RemoveAll(tmp); err != nil {
					b.log.Warn("removing temporary store", slog.String("dir", tmp), slog.Any("error", err))
				}
			}
		}()
	}
	select {
	case <-b.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("broker: shutdown: %w", ctx.Err())
	}
}

// Server returns the embedded NATS server, or nil before Start.
func (b *Broker) Server() *server.Server { return b.srv.Load() }

// Replicas returns the replica count of the framework KV buckets, known once
// Start has returned successfully with JetStream on; 0 otherwise.
func (b *Broker) Replicas() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.replicas
}

// ClientURL returns the URL clients on this host use to reach the node, with
// the port actually bound (also with Port -1): nats://host:port. An
// unspecified listen address (0.0.0.0, ::) is reported as the loopback
// address. It returns "" before Start and with DontListen.
func (b *Broker) ClientURL() string {
	srv := b.srv.Load()
	if srv == nil {
		return ""
	}
	return listenerURL("nats", srv.Addr())
}

// ClusterURL returns the route URL of this node, nats-route://host:port, with
// the port actually bound; "" before Start or when not clustered.
func (b *Broker) ClusterURL() string {
	srv := b.srv.Load()
	if srv == nil {
		return ""
	}
	if a := srv.ClusterAddr(); a != nil {
		return listenerURL("nats-route", a)
	}
	return ""
}

// MonitorURL returns the base URL of the NATS monitoring endpoints,
// http://host:port; "" before Start or when HTTPPort is 0.
func (b *Broker) MonitorURL() string {
	srv := b.srv.Load()
	if srv == nil {
		return ""
	}
	if a := srv.MonitorAddr(); a != nil {
		return listenerURL("http", a)
	}
	return ""
}

// listenerURL formats a bound listener address as a URL reachable from the
// local host.
func listenerURL(scheme string, addr net.Addr) string {
	ta, ok := addr.(*net.TCPAddr)
	if !ok || ta == nil {
		return ""
	}
	ip := ta.IP
	if ip == nil || ip.IsUnspecified() {
		// A wildcard listener ("0.0.0.0", which Go reports as "::" on a
		// dual-stack host) is reachable on the IPv4 loopback.
		ip = net.IPv4(127, 0, 0, 1)
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(ip.String(), strconv.Itoa(ta.Port))}
	return u.String()
}

// InProcessConn connects to the node in-process, without a socket (this
// works with DontListen too). On a broker that requires authentication it
// connects as the broker's internal user, which has every permission;
// opts are applied after that. An in-process connection cannot fail over
// to another node: services that must survive the loss of this node
// connect over TCP to a URL list instead.
func (b *Broker) InProcessConn(opts ...nats.Option) (*nats.Conn, error) {
	return b.inProcessConn(b.internal, opts)
}

// InProcessConnAs connects to the node in-process like
// [Broker.InProcessConn], as a client of role (fabric.RoleGate, RoleLogic,
// RoleTool): with the role's inbox prefix (fabric.InboxPrefix) and, on a
// broker that requires authentication, as an internal user of that role,
// with the role's [Permissions]. `iogo dev` connects each of its
// components so.
func (b *Broker) InProcessConnAs(role string, opts ...nats.Option) (*nats.Conn, error) {
	cr, ok := b.roles[role]
	if !ok {
		return nil, fmt.Errorf("broker: in-process connect: unknown role %q", role)
	}
	all := make([]nats.Option, 0, len(opts)+1)
	all = append(all, nats.CustomInboxPrefix(fabric.InboxPrefix(role)))
	return b.inProcessConn(cr, append(all, opts...))
}

func (b *Broker) inProcessConn(cr credential, opts []nats.Option) (*nats.Conn, error) {
	if b.closed.Load() {
		return nil, ErrClosed
	}
	srv := b.srv.Load()
	if srv == nil {
		return nil, ErrNotStarted
	}
	all := make([]nats.Option, 0, len(opts)+2)
	all = append(all, nats.InProcessServer(srv))
	if b.cfg.Authenticated() {
		all = append(all, nats.UserInfo(cr.user, cr.password))
	}
	all = append(all, opts...)
	nc, err := nats.Connect("", all...)
	if err != nil {
		return nil, fmt.Errorf("broker: in-process connect: %w", err)
	}
	return nc, nil
}
