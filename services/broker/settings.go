package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/svcmain"
)

// envPrefix prefixes every environment variable the broker reads.
const envPrefix = "IOGO_BROKER_"

// settings is everything the command line and the environment configure.
type settings struct {
	cfg          broker.Config
	logLevel     slog.Level
	startTimeout time.Duration // 0 = wait for the cluster as long as it takes
	noAuth       bool          // -no-auth: unauthenticated clients allowed on any host
}

// loopback reports whether host only accepts connections from this
// machine: a loopback IP or "localhost".
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseSettings reads the environment (IOGO_BROKER_*, lookupEnv is
// os.LookupEnv) and then args; a flag given in args overrides its
// environment variable. Usage and flag errors go to out. The configuration
// is validated; Logger is left nil.
func parseSettings(args []string, lookupEnv func(string) (string, bool), out io.Writer) (settings, error) {
	var s settings
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: broker [flags]\n\nRuns one iogo broker node: embedded NATS with JetStream.\n"+
			"Every flag can also be set by the environment variable shown; the flag wins.\n\n")
		fs.PrintDefaults()
	}

	var routes, level, nkeys string
	var maxPayload int
	fs.StringVar(&s.cfg.Name, "name", "", "unique server name in the cluster (default: random; keep it stable with a persistent -store)")
	fs.StringVar(&s.cfg.Host, "host", broker.DefaultHost, "client listen address")
	fs.IntVar(&s.cfg.Port, "port", broker.DefaultPort, "client port; -1 = random")
	fs.StringVar(&s.cfg.StoreDir, "store", "", "JetStream store directory (default: a temporary directory removed at exit)")
	fs.StringVar(&s.cfg.ClientAdvertise, "client-advertise", "", "host:port advertised to clients")
	fs.StringVar(&s.cfg.ClusterName, "cluster-name", "", "cluster name, the same on every node (default \""+broker.DefaultClusterName+"\" when clustered)")
	fs.StringVar(&s.cfg.ClusterHost, "cluster-host", "", "route listen address (default: -host)")
	fs.IntVar(&s.cfg.ClusterPort, "cluster-port", 0, "route port; 0 = none unless -routes is set (then 6222); -1 = random")
	fs.StringVar(&routes, "routes", "", "comma-separated route URLs of ALL cluster nodes, this one included (nats-route://host:6222)")
	fs.StringVar(&s.cfg.ClusterAdvertise, "cluster-advertise", "", "host:port advertised to other nodes for routes")
	fs.IntVar(&s.cfg.HTTPPort, "http-port", 0, "NATS monitoring port; 0 = off, -1 = random")
	fs.StringVar(&s.cfg.MetricsAddr, "metrics", "", `Prometheus /metrics listen address (logic servers' per-route stats gathered over NATS); "" = off`)
	fs.StringVar(&s.cfg.User, "user", "", "user required from clients (with -password)")
	fs.StringVar(&s.cfg.Password, "password", "", "password required from clients; prefer the environment variable")
	fs.StringVar(&nkeys, "nkeys", "", "comma-separated public nkeys (U...) of services allowed to connect; services sign with -nkey-seed")
	fs.BoolVar(&s.noAuth, "no-auth", false, "accept unauthenticated clients on a non-loopback -host (only on a private network)")
	fs.IntVar(&maxPayload, "max-payload", 0, "largest message in bytes; 0 = 2 MiB (room for a full 1 MiB client frame and its headers)")
	fs.StringVar(&level, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&s.startTimeout, "start-timeout", 0, "give up if not ready within this time; 0 = wait until interrupted")
	svcmain.AnnotateEnv(fs, envPrefix)

	if err := svcmain.ParseFlags(fs, envPrefix, args, lookupEnv); err != nil {
		return settings{}, err
	}
	if maxPayload < 0 || maxPayload > math.MaxInt32 {
		return settings{}, fmt.Errorf("-max-payload %d out of range", maxPayload)
	}
	s.cfg.MaxPayload = int32(maxPayload)
	s.cfg.Routes = svcmain.SplitList(routes)
	s.cfg.NKeys = svcmain.SplitList(nkeys)
	if err := s.logLevel.UnmarshalText([]byte(level)); err != nil {
		return settings{}, fmt.Errorf("-log-level: %w", err)
	}
	if s.startTimeout < 0 {
		return settings{}, errors.New("-start-timeout must not be negative")
	}
	if err := s.cfg.Validate(); err != nil {
		return settings{}, err
	}
	if !s.cfg.Authenticated() && !s.noAuth && !loopback(s.cfg.Host) {
		return settings{}, fmt.Errorf("refusing to accept unauthenticated clients on -host %q: set -user and -password "+
			"or -nkeys (services then pass the same credentials), listen on 127.0.0.1, or pass -no-auth", s.cfg.Host)
	}
	return s, nil
}
