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
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/svcmain/svcbase"
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

// roleFlags are the credential flags of one client role.
type roleFlags struct{ user, password, nkeys string }

// roleDoc says who connects as role, for the flags' usage.
func roleDoc(role string) string {
	switch role {
	case fabric.RoleGate:
		return "external servers"
	case fabric.RoleLogic:
		return "logic services"
	}
	return "iogo cli, iogo gen, dashboards"
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
	fs.StringVar(&s.cfg.User, "user", "", "operator user with every permission (with -password); also guards the cluster routes, the same on every node")
	fs.StringVar(&s.cfg.Password, "password", "", "password of -user; prefer the environment variable")
	fs.StringVar(&nkeys, "nkeys", "", "comma-separated public nkeys (U...) of operators with every permission; clients sign with -nkey-seed")
	roles := make(map[string]*roleFlags)
	for _, r := range fabric.Roles() {
		rf := &roleFlags{}
		roles[r] = rf
		fs.StringVar(&rf.user, r+"-user", "", "user name of the "+r+"s ("+roleDoc(r)+"), with -"+r+"-password; it gets the "+r+" role's permissions")
		fs.StringVar(&rf.password, r+"-password", "", "password of -"+r+"-user; prefer the environment variable")
		fs.StringVar(&rf.nkeys, r+"-nkeys", "", "comma-separated public nkeys (U...) of "+r+"s, with the "+r+" role's permissions")
	}
	fs.BoolVar(&s.noAuth, "no-auth", false, "accept unauthenticated clients on a non-loopback -host (only on a private network)")
	fs.IntVar(&maxPayload, "max-payload", 0, "largest message in bytes; 0 = 2 MiB (room for a full 1 MiB client frame and its headers)")
	fs.StringVar(&level, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&s.startTimeout, "start-timeout", 0, "give up if not ready within this time; 0 = wait until interrupted")
	svcbase.AnnotateEnv(fs, envPrefix)

	if err := svcbase.ParseFlags(fs, envPrefix, args, lookupEnv); err != nil {
		return settings{}, err
	}
	if maxPayload < 0 || maxPayload > math.MaxInt32 {
		return settings{}, fmt.Errorf("-max-payload %d out of range", maxPayload)
	}
	s.cfg.MaxPayload = int32(maxPayload)
	s.cfg.Routes = svcbase.SplitList(routes)
	s.cfg.NKeys = svcbase.SplitList(nkeys)
	for _, r := range fabric.Roles() {
		rf := roles[r]
		if rf.user != "" || rf.password != "" {
			s.cfg.Users = append(s.cfg.Users, broker.User{Role: r, Name: rf.user, Password: rf.password})
		}
		for _, k := range svcbase.SplitList(rf.nkeys) {
			s.cfg.Users = append(s.cfg.Users, broker.User{Role: r, NKey: k})
		}
	}
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
		return settings{}, fmt.Errorf("refusing to accept unauthenticated clients on -host %q: set a user per role "+
			"(-gate-user, -logic-user, -tool-user with their passwords, or -gate-nkeys ...; services pass theirs), "+
			"listen on 127.0.0.1, or pass -no-auth", s.cfg.Host)
	}
	return s, nil
}
