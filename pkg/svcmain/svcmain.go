// Package svcmain holds the complete main of a logic service (RunLogic),
// with its flags: the brokers, the store backend of a module, durable
// events on Kafka (-kafka) and the route dump that code generation reads
// (-dump-routes). Only main packages import it; the pieces every service
// main shares (flags from the environment, broker authentication, logger,
// ready line) are in package svcbase, which the broker and gate binaries
// use without linking a logic server, a Kafka client or the generator.
//
// Everything here returns errors or exit codes; only a main package exits.
package svcmain

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/iogo-dev/iogo/pkg/eventbus"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/gen"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/stats"
	"github.com/iogo-dev/iogo/pkg/svcmain/svcbase"
	"github.com/iogo-dev/iogo/pkg/trace"
)

// Logic describes a logic-service binary.
type Logic struct {
	// Service is the service name (the queue group), e.g. "login".
	Service string
	// EnvPrefix prefixes the environment variables, e.g. "IOGO_LOGIN_".
	EnvPrefix string
	// Routes returns the service's routes, for a service that keeps no
	// data. Set Routes or Module.
	Routes func() logic.RouteSource
	// Module builds a service that keeps data (see [logic.Module]); it may add
	// its own flags to fs. RunLogic adds -redis: with a Redis URL the
	// module's data lives in Redis, else in the brokers' JetStream.
	Module func(fs *flag.FlagSet) logic.Module
}

// Exit codes of RunLogic and the other service mains.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// RunLogic is the whole main of a logic service: it parses flags and
// environment, connects to the brokers, serves until ctx ends and shuts down
// gracefully. It prints "iogo logic ready service=NAME instance=ID" to
// stdout once the routes are subscribed and returns an exit code.
func RunLogic(ctx context.Context, spec Logic, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	var (
		brokers, level string
		cfg            logic.Config
	)
	fs := flag.NewFlagSet(spec.Service, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&brokers, "brokers", "nats://127.0.0.1:4222", "comma-separated NATS broker URLs")
	auth := svcbase.BrokerAuth(fs)
	fs.StringVar(&cfg.InstanceID, "id", "", "instance ID, a NATS subject token (default: service-random)")
	fs.StringVar(&cfg.Version, "version", "", "version reported in the service registry")
	fs.IntVar(&cfg.MaxPending, "max-pending", logic.DefaultMaxPending, "requests allowed to wait per user")
	fs.IntVar(&cfg.Inbound, "inbound", logic.DefaultInbound, `requests received and not yet dispatched; more are answered "server busy"`)
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", logic.DefaultShutdownTimeout, "how long shutdown waits for in-flight requests")
	fs.DurationVar(&cfg.StartTimeout, "start-timeout", 0, "give up if not serving within this time; 0 = wait for a broker until interrupted")
	fs.StringVar(&level, "log-level", "info", "log level: debug, info, warn or error")
	debugOn := fs.Bool("debug", false, "print a debug block (handler, user, params, response, duration, trace) per request to stderr")
	debugThreshold := fs.Duration("debug-threshold", 0, "print debug blocks only for requests at least this slow")
	fs.DurationVar(&cfg.Stats.SlowMin, "slow", 0, "stats keep a request among the slowest (dashboard) only when it took at least this long")
	fs.IntVar(&cfg.Stats.RecentErrors, "recent-errors", stats.DefaultRecentErrors, "failed requests the stats keep for the dashboard; negative keeps none")
	var (
		mod      logic.Module
		redisURL string
		kafka    string
	)
	fs.StringVar(&kafka, "kafka", "", `Kafka bootstrap brokers (host:9092,...) for durable events; "" keeps them in the brokers' JetStream`)
	if spec.Module != nil {
		mod = spec.Module(fs)
		fs.StringVar(&redisURL, "redis", "", `Redis URL (redis://[:password@]host:6379/0) for the service's data; "" keeps it in the brokers' JetStream`)
	}
	routes := spec.Routes
	if mod != nil {
		routes = mod.Router
	}
	dump := fs.Bool("dump-routes", false, "print the route table (routes, pushes, errors, descriptors) as JSON and exit; needs no broker")
	svcbase.AnnotateEnv(fs, spec.EnvPrefix)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s [flags]\n\nThe iogo %s logic service. Every flag can also be set "+
			"by the environment variable shown; the flag wins.\n\n", spec.Service, spec.Service)
		fs.PrintDefaults()
	}
	err := svcbase.ParseFlags(fs, spec.EnvPrefix, args, lookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", spec.Service, err)
		return ExitUsage
	}
	if *dump {
		return dumpRoutes(spec.Service, routes, stdout, stderr)
	}
	log, err := svcbase.NewLogger(stderr, level)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", spec.Service, err)
		return ExitUsage
	}
	if redisURL != "" {
		// Checked now: OpenStore runs only once a broker answers.
		if _, err := redis.ParseURL(redisURL); err != nil {
			fmt.Fprintf(stderr, "%s: -redis: %v\n", spec.Service, err)
			return ExitUsage
		}
	}
	cfg.Service, cfg.Router, cfg.Logger = spec.Service, routes(), log
	if kafka != "" {
		bus, err := eventbus.NewKafka(eventbus.KafkaConfig{Brokers: eventbus.ParseBrokers(kafka), Logger: log})
		if err != nil {
			fmt.Fprintf(stderr, "%s: -kafka: %v\n", spec.Service, err)
			return ExitUsage
		}
		defer func() {
			// Close waits for the consumers' handlers; one that hangs past
			// the shutdown timeout must not keep the process alive.
			closed := make(chan error, 1)
			go func() { closed <- bus.Close() }()
			select {
			case <-closed:
			case <-time.After(cfg.ShutdownTimeout):
				log.Warn("the Kafka bus did not close within the shutdown timeout")
			}
		}()
		cfg.DurableBus = bus
	}
	var closeStore func() error
	if mod != nil {
		cfg.Init = func(ctx context.Context, srv *logic.Server) error {
			st, closeSt, err := OpenStore(srv.Conn(), redisURL)
			if err != nil {
				return err
			}
			closeStore = closeSt
			return mod.Open(ctx, srv, st)
		}
		defer func() {
			if err := mod.Close(); err != nil {
				log.Warn("closing the module", slog.Any("error", err))
			}
			if closeStore != nil {
				_ = closeStore()
			}
		}()
	}
	cfg.Brokers = svcbase.SplitList(brokers)
	authOpts, err := auth()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", spec.Service, err)
		return ExitUsage
	}
	cfg.NATSOptions = append(cfg.NATSOptions, svcbase.RoleOption(fabric.RoleLogic))
	cfg.NATSOptions = append(cfg.NATSOptions, authOpts...)
	// OTLP tracing when OTEL_EXPORTER_OTLP_ENDPOINT is set (package trace).
	tp, stopTracing, err := trace.Setup(ctx, spec.Service, cfg.InstanceID)
	if err != nil {
		log.Error("tracing", slog.Any("error", err))
		return ExitError
	}
	defer func() {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := stopTracing(tctx); err != nil {
			log.Warn("tracing shutdown", slog.Any("error", err))
		}
	}()
	cfg.TracerProvider = tp
	if *debugOn {
		cfg.Debug = &logic.DebugConfig{Writer: stderr, Threshold: *debugThreshold}
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = -1 // wait for a broker as long as it takes
	}
	srv, err := logic.New(cfg)
	if err != nil {
		log.Error("invalid configuration", slog.Any("error", err))
		return ExitUsage
	}
	err = srv.Start(ctx)
	if err != nil && ctx.Err() != nil {
		log.Info("interrupted before serving")
		return ExitOK
	}
	if err != nil {
		log.Error("start failed", slog.Any("error", err))
		return ExitError
	}
	fmt.Fprintln(stdout, svcbase.ReadyLine("logic", "service", srv.Service(), "instance", srv.InstanceID()))
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("shutdown", slog.Any("error", err))
		return ExitError
	}
	return ExitOK
}

// dumpRoutes prints the service's route table as the JSON of gen.Service,
// which `iogo gen -binary` reads.
func dumpRoutes(service string, routes func() logic.RouteSource, stdout, stderr io.Writer) int {
	svc, err := gen.FromRouter(service, routes())
	if err == nil {
		err = json.NewEncoder(stdout).Encode(svc)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", service, err)
		return ExitError
	}
	return ExitOK
}
