package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
)

// envPrefix prefixes every environment variable the broker reads.
const envPrefix = "IOGO_BROKER_"

// settings is everything the command line and the environment configure.
type settings struct {
	cfg          broker.Config
	logLevel     slog.Level
	startTimeout time.Duration // 0 = wait for the cluster as long as it takes
}

// parseSettings reads the environment (IOGO_BROKER_*) and then args; a flag
// given in args overrides its environment variable. Usage and flag errors go
// to out. The configuration is validated; Logger is left nil.
func parseSettings(args []string, getenv func(string) string, out io.Writer) (settings, error) {
	var s settings
	env := envReader{getenv: getenv}
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: broker [flags]\n\nRuns one iogo broker node: embedded NATS with JetStream.\n"+
			"Every flag can also be set by the environment variable shown; the flag wins.\n\n")
		fs.PrintDefaults()
	}

	str := func(p *string, name, def, usage string) {
		fs.StringVar(p, name, env.str(name, def), usage+envNote(name))
	}
	num := func(p *int, name string, def int, usage string) {
		fs.IntVar(p, name, env.int(name, def), usage+envNote(name))
	}

	var routes, level string
	var maxPayload int
	str(&s.cfg.Name, "name", "", "unique server name in the cluster (default: random; keep it stable with a persistent -store)")
	str(&s.cfg.Host, "host", broker.DefaultHost, "client listen address")
	num(&s.cfg.Port, "port", broker.DefaultPort, "client port; -1 = random")
	str(&s.cfg.StoreDir, "store", "", "JetStream store directory (default: a temporary directory removed at exit)")
	str(&s.cfg.ClientAdvertise, "client-advertise", "", "host:port advertised to clients")
	str(&s.cfg.ClusterName, "cluster-name", "", "cluster name, the same on every node (default \""+broker.DefaultClusterName+"\" when clustered)")
	str(&s.cfg.ClusterHost, "cluster-host", "", "route listen address (default: -host)")
	num(&s.cfg.ClusterPort, "cluster-port", 0, "route port; 0 = none unless -routes is set (then 6222); -1 = random")
	str(&routes, "routes", "", "comma-separated route URLs of ALL cluster nodes, this one included (nats-route://host:6222)")
	str(&s.cfg.ClusterAdvertise, "cluster-advertise", "", "host:port advertised to other nodes for routes")
	num(&s.cfg.HTTPPort, "http-port", 0, "NATS monitoring port; 0 = off, -1 = random")
	str(&s.cfg.User, "user", "", "user required from clients (with -password)")
	str(&s.cfg.Password, "password", "", "password required from clients; prefer the environment variable")
	num(&maxPayload, "max-payload", 0, "largest message in bytes; 0 = NATS default (1 MiB)")
	str(&level, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&s.startTimeout, "start-timeout", env.duration("start-timeout", 0),
		"give up if not ready within this time; 0 = wait until interrupted"+envNote("start-timeout"))

	if env.err != nil {
		return settings{}, env.err
	}
	if err := fs.Parse(args); err != nil {
		return settings{}, err
	}
	if fs.NArg() > 0 {
		return settings{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if maxPayload < 0 || maxPayload > math.MaxInt32 {
		return settings{}, fmt.Errorf("-max-payload %d out of range", maxPayload)
	}
	s.cfg.MaxPayload = int32(maxPayload)
	s.cfg.Routes = splitList(routes)
	if err := s.logLevel.UnmarshalText([]byte(level)); err != nil {
		return settings{}, fmt.Errorf("-log-level: %w", err)
	}
	if s.startTimeout < 0 {
		return settings{}, errors.New("-start-timeout must not be negative")
	}
	if err := s.cfg.Validate(); err != nil {
		return settings{}, err
	}
	return s, nil
}

// envName returns the environment variable of a flag: port → IOGO_BROKER_PORT.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func envNote(flagName string) string { return " (env " + envName(flagName) + ")" }

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// envReader reads typed environment variables, keeping the first error.
type envReader struct {
	getenv func(string) string
	err    error
}

func (e *envReader) str(flagName, def string) string {
	if v := e.getenv(envName(flagName)); v != "" {
		return v
	}
	return def
}

func (e *envReader) int(flagName string, def int) int {
	v := e.getenv(envName(flagName))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil && e.err == nil {
		e.err = fmt.Errorf("%s=%q: not an integer", envName(flagName), v)
	}
	return n
}

func (e *envReader) duration(flagName string, def time.Duration) time.Duration {
	v := e.getenv(envName(flagName))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil && e.err == nil {
		e.err = fmt.Errorf("%s=%q: not a duration", envName(flagName), v)
	}
	return d
}
