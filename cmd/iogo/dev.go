package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/external"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/svcmain"
	"github.com/iogo-dev/iogo/pkg/svcmain/svcbase"
	"github.com/iogo-dev/iogo/pkg/trace"
	"github.com/nats-io/nats.go"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// devConfig configures `iogo dev`.
type devConfig struct {
	WSAddr  string // WebSocket listen address; "" = off
	TCPAddr string // TCP listen address; "" = off
	// NATSAddr is the broker's client listener host:port; "" = none, the
	// components connect in-process only. A listener requires the
	// credentials generated at start (devStack.creds), one per role.
	NATSAddr string
	// Redis, when set, keeps the modules' data in Redis instead of the
	// broker's JetStream.
	Redis string
	// MetricsAddr serves Prometheus /metrics from the broker; "" = off.
	MetricsAddr string
	Codec       string
	// RateLimit is the gate's per-connection request rate (see
	// external.Config.RateLimit); negative turns it off.
	RateLimit float64
	Logger    *slog.Logger
	// BrokerLogger receives the embedded NATS server's logs; nil discards.
	BrokerLogger *slog.Logger
	// TracerProvider traces the gate and the logic servers; nil = off.
	TracerProvider oteltrace.TracerProvider
	// Debug prints a debug block per request of the logic servers; nil =
	// off (see logic.DebugConfig).
	Debug *logic.DebugConfig
	// TLSSelfSigned serves WebSocket as wss:// and TCP as tls:// with a
	// certificate generated at start (external.Config.TLSSelfSigned).
	TLSSelfSigned bool
}

// devService is a logic service that `iogo dev` runs: a stateless one
// (routes) or one that keeps data (module, opened on the dev broker's
// JetStream, or on Redis with -redis; its flags keep their defaults).
type devService struct {
	name   string
	routes func() logic.RouteSource
	module func(fs *flag.FlagSet) logic.Module
}

// source returns the service's routes without starting it (code
// generation, the CLI's type book).
func (d devService) source() logic.RouteSource {
	if d.module != nil {
		return d.module(flag.NewFlagSet(d.name, flag.ContinueOnError)).Router()
	}
	return d.routes()
}

// devServices, the list of the services, is in services_gen.go, which
// `iogo new service` rewrites (new.go).

// moduleOf adapts a module's constructor (pkg.FromFlags) to
// devService.module, whatever concrete type it returns.
func moduleOf[M logic.Module](from func(*flag.FlagSet) M) func(*flag.FlagSet) logic.Module {
	return func(fs *flag.FlagSet) logic.Module { return from(fs) }
}

// routesOf adapts a stateless service's router constructor (pkg.Router) to
// devService.routes.
func routesOf[R logic.RouteSource](router func() R) func() logic.RouteSource {
	return func() logic.RouteSource { return router() }
}

// devStack is a running `iogo dev`: one broker, one external server and the
// logic services, every component on an in-process connection of its own.
type devStack struct {
	broker  *broker.Broker
	gate    *external.Server
	logics  []*logic.Server
	modules []logic.Module
	closers []func() error // store clients
	conns   []*nats.Conn
	// creds are the users of the broker's listener, one per role, in the
	// order of fabric.Roles; none without a listener.
	creds []broker.User
}

// devCredentials returns a user per role with a random password, new at
// every start of `iogo dev`.
func devCredentials() []broker.User {
	var users []broker.User
	for _, r := range fabric.Roles() {
		users = append(users, broker.User{Role: r, Name: r, Password: rand.Text()})
	}
	return users
}

// startDev starts the whole stack; on failure it stops what it started.
func startDev(ctx context.Context, cfg devConfig) (_ *devStack, err error) {
	bcfg := broker.Config{Name: "iogo-dev", Logger: cfg.BrokerLogger, MetricsAddr: cfg.MetricsAddr}
	if cfg.NATSAddr == "" {
		bcfg.DontListen = true
	} else {
		host, port, err := splitHostPort(cfg.NATSAddr)
		if err != nil {
			return nil, fmt.Errorf("-nats: %w", err)
		}
		bcfg.Host, bcfg.Port = host, port
		// Never an open listener: every client authenticates as a role.
		bcfg.Users = devCredentials()
	}
	b, err := broker.New(bcfg)
	if err != nil {
		return nil, err
	}
	d := &devStack{broker: b, creds: bcfg.Users}
	defer func() {
		if err != nil {
			d.shutdown(context.WithoutCancel(ctx))
		}
	}()
	if err := b.Start(ctx); err != nil {
		return nil, err
	}
	// Logic servers first: the gate's registry view then holds their routes
	// when it starts, so every route answers once the ready line is out.
	for _, svc := range devServices() {
		nc, err := d.conn("iogo-dev "+svc.name, fabric.RoleLogic)
		if err != nil {
			return nil, err
		}
		lcfg := logic.Config{
			Service: svc.name, InstanceID: "dev-" + svc.name, Conn: nc,
			Logger: cfg.Logger.With("component", "logic"), TracerProvider: cfg.TracerProvider,
			Debug: cfg.Debug,
		}
		if svc.module != nil {
			mod := svc.module(flag.NewFlagSet(svc.name, flag.ContinueOnError))
			d.modules = append(d.modules, mod)
			lcfg.Router = mod.Router()
			lcfg.Init = func(ctx context.Context, srv *logic.Server) error {
				st, closeSt, err := svcmain.OpenStore(srv.Conn(), cfg.Redis)
				if err != nil {
					return err
				}
				d.closers = append(d.closers, closeSt)
				return mod.Open(ctx, srv, st)
			}
		} else {
			lcfg.Router = svc.routes()
		}
		srv, err := logic.New(lcfg)
		if err != nil {
			return nil, err
		}
		if err := srv.Start(ctx); err != nil {
			return nil, err
		}
		d.logics = append(d.logics, srv)
	}
	gateConn, err := d.conn("iogo-dev external", fabric.RoleGate)
	if err != nil {
		return nil, err
	}
	d.gate, err = external.New(external.Config{
		ID: "dev-gate", WSAddr: cfg.WSAddr, TCPAddr: cfg.TCPAddr, Codec: cfg.Codec, RateLimit: cfg.RateLimit,
		Conn: gateConn, Logger: cfg.Logger.With("component", "external"), TracerProvider: cfg.TracerProvider,
		TLSSelfSigned: cfg.TLSSelfSigned,
	})
	if err != nil {
		return nil, err
	}
	if err := d.gate.Start(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// conn connects a component in-process, as a client of role.
func (d *devStack) conn(name, role string) (*nats.Conn, error) {
	nc, err := d.broker.InProcessConnAs(role, nats.Name(name))
	if err != nil {
		return nil, err
	}
	d.conns = append(d.conns, nc)
	return nc, nil
}

// shutdown stops the stack in reverse order: logic servers finish their
// requests, the gate closes its clients, then the broker stops.
func (d *devStack) shutdown(ctx context.Context) error {
	var errList []error
	for i := len(d.logics) - 1; i >= 0; i-- {
		errList = append(errList, d.logics[i].Shutdown(ctx))
	}
	for _, m := range d.modules {
		errList = append(errList, m.Close())
	}
	for _, c := range d.closers {
		errList = append(errList, c())
	}
	errList = append(errList, d.gate.Shutdown(ctx))
	for _, nc := range d.conns {
		nc.Close()
	}
	errList = append(errList, d.broker.Shutdown(ctx))
	return errors.Join(errList...)
}

// schemes returns the URL schemes of the gate's WebSocket and TCP
// listeners, with their "://".
func (d *devStack) schemes() (ws, tcp string) {
	if d.gate.TLSFingerprint() != "" {
		return "wss://", "tls://"
	}
	return "ws://", "tcp://"
}

// readyLine is the machine-readable line printed once the stack serves.
func (d *devStack) readyLine() string {
	var kv []string
	ws, tcp := d.schemes()
	if a := d.gate.WSAddr(); a != nil {
		kv = append(kv, "ws", ws+svcbase.Dialable(a)+external.DefaultWSPath)
	}
	if a := d.gate.TCPAddr(); a != nil {
		kv = append(kv, "tcp", tcp+svcbase.Dialable(a))
	}
	if fp := d.gate.TLSFingerprint(); fp != "" {
		kv = append(kv, "sha256", fp)
	}
	if u := d.broker.ClientURL(); u != "" {
		kv = append(kv, "nats", u)
		// nats-<role>: the URL with that role's credentials in it.
		for _, c := range d.creds {
			kv = append(kv, "nats-"+c.Role, d.credURL(c))
		}
	}
	if u := d.broker.DashboardURL(); u != "" {
		kv = append(kv, "metrics", u)
	}
	return svcbase.ReadyLine("dev", kv...)
}

// credURL returns the broker's client URL with c's name and password.
func (d *devStack) credURL(c broker.User) string {
	u, err := url.Parse(d.broker.ClientURL())
	if err != nil {
		return ""
	}
	u.User = url.UserPassword(c.Name, c.Password)
	return u.String()
}

// describe writes a human summary: where to connect and what is served.
func (d *devStack) describe(w io.Writer) {
	ws, tcp := d.schemes()
	if a := d.gate.WSAddr(); a != nil {
		fmt.Fprintf(w, "  WebSocket  %s%s%s  (?codec=json for JSON)\n", ws, svcbase.Dialable(a), external.DefaultWSPath)
	}
	if a := d.gate.TCPAddr(); a != nil {
		fmt.Fprintf(w, "  TCP        %s%s  (4-byte length prefix)\n", tcp, svcbase.Dialable(a))
	}
	if fp := d.gate.TLSFingerprint(); fp != "" {
		fmt.Fprintf(w, "  TLS        self-signed, SHA-256 %s  (iogo cli/sim -tls-pin)\n", fp)
	}
	if u := d.broker.ClientURL(); u != "" {
		fmt.Fprintf(w, "  Broker     %s  (credentials per role, new at every start:)\n", u)
		for _, c := range d.creds {
			fmt.Fprintf(w, "    %-6s %s\n", c.Role, devUsage(c.Role, u, c))
		}
	}
	if u := d.broker.DashboardURL(); u != "" {
		fmt.Fprintf(w, "  Dashboard  %s  (Prometheus: %smetrics)\n", u, u)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\n  SERVICE\tROUTE\tACCESS\tREQUEST\tRESPONSE\tDOC")
	for _, s := range d.logics {
		for _, r := range s.Routes() {
			resp := r.Resp
			if r.Void {
				resp = "(void)"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", s.Service(), r.String(), r.Access, r.Req, resp, r.Doc)
		}
		for _, p := range s.Pushes() {
			fmt.Fprintf(tw, "  %s\t%s\tpush\t\t%s\t%s\n", s.Service(), p.String(), p.Type, p.Doc)
		}
	}
	tw.Flush()
}

// devUsage is a command line that connects a program of role to the dev
// broker at u.
func devUsage(role, u string, c broker.User) string {
	auth := fmt.Sprintf("-brokers %s -user %s -password %s", u, c.Name, c.Password)
	switch role {
	case fabric.RoleGate:
		return "go run ./services/external " + auth
	case fabric.RoleLogic:
		return "go run ./services/logic-NAME " + auth
	default:
		return "iogo cli " + auth
	}
}

func runDev(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	var cfg devConfig
	var level string
	fs := flag.NewFlagSet("iogo dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.WSAddr, "ws", "127.0.0.1:10100", `WebSocket listen address; "" disables WebSocket`)
	fs.StringVar(&cfg.TCPAddr, "tcp", "127.0.0.1:10200", `TCP listen address; "" disables TCP`)
	fs.StringVar(&cfg.NATSAddr, "nats", "", `broker listen address for services and tools in other processes, such as 127.0.0.1:4222, with credentials generated and printed at start; "" = none (in-process only)`)
	fs.StringVar(&cfg.Codec, "codec", "protobuf", "default client codec: protobuf or json")
	fs.Float64Var(&cfg.RateLimit, "rate", external.DefaultRateLimit, "requests per second allowed per connection; -1 = unlimited (load tests)")
	fs.StringVar(&level, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&cfg.Redis, "redis", "", `Redis URL (redis://host:6379/0) for the modules' data (accounts, guilds, boards); "" keeps it in the broker's JetStream`)
	fs.StringVar(&cfg.MetricsAddr, "metrics", "", `dashboard and Prometheus /metrics listen address, such as 127.0.0.1:9222; "" = off`)
	fs.BoolVar(&cfg.TLSSelfSigned, "tls-self-signed", false, "serve wss:// and tls:// with a certificate generated at start; its SHA-256 is printed for clients to pin")
	debugOn := fs.Bool("debug", true, "print a debug block (handler, user, params, response, duration, trace) per request to stderr")
	debugThreshold := fs.Duration("debug-threshold", 0, "print debug blocks only for requests at least this slow")
	err := svcbase.ParseFlags(fs, "IOGO_DEV_", args, lookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		return svcmain.ExitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "iogo dev:", err)
		return svcmain.ExitUsage
	}
	if cfg.Logger, err = svcbase.NewLogger(stderr, level); err != nil {
		fmt.Fprintln(stderr, "iogo dev:", err)
		return svcmain.ExitUsage
	}
	// The NATS server's start-up banner is noise in a dev console: it logs
	// warnings and errors only, unless debug logging is on.
	brokerLevel := "warn"
	if level == "debug" {
		brokerLevel = level
	}
	cfg.BrokerLogger, _ = svcbase.NewLogger(stderr, brokerLevel)
	cfg.BrokerLogger = cfg.BrokerLogger.With("component", "broker")
	// OTLP tracing when OTEL_EXPORTER_OTLP_ENDPOINT is set (package trace).
	tp, stopTracing, err := trace.Setup(ctx, "iogo-dev", "")
	if err != nil {
		cfg.Logger.Error("tracing", slog.Any("error", err))
		return svcmain.ExitError
	}
	defer func() {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = stopTracing(tctx)
	}()
	cfg.TracerProvider = tp
	if *debugOn {
		cfg.Debug = &logic.DebugConfig{Writer: stderr, Threshold: *debugThreshold}
	}
	began := time.Now()
	d, err := startDev(ctx, cfg)
	if err != nil {
		cfg.Logger.Error("iogo dev failed to start", slog.Any("error", err))
		return svcmain.ExitError
	}
	fmt.Fprintln(stdout, d.readyLine())
	d.describe(stdout)
	cfg.Logger.Info("iogo dev ready", slog.Duration("startup", time.Since(began)))
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := d.shutdown(sctx); err != nil {
		cfg.Logger.Error("shutdown", slog.Any("error", err))
		return svcmain.ExitError
	}
	return svcmain.ExitOK
}

// splitHostPort parses "host:port" for the broker; port 0 asks for a
// random free port.
func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	if port == 0 {
		port = -1 // the broker's "random port"
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}
