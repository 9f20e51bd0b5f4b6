package broker

import (
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/nats-io/nkeys"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Defaults applied by [New] to zero fields of [Config].
const (
	// DefaultHost is the client (and cluster) listen address when Host is "".
	DefaultHost = "0.0.0.0"
	// DefaultPort is the NATS client port used when Port is 0.
	DefaultPort = 4222
	// DefaultClusterPort is the route port used when Routes are set and
	// ClusterPort is 0.
	DefaultClusterPort = 6222
	// DefaultClusterName is the cluster name used by a clustered broker whose
	// ClusterName is "". Every node of one cluster must use the same name.
	DefaultClusterName = "iogo"
	// DefaultMaxPayload is the largest message a client may publish when
	// MaxPayload is 0: 2 MiB.
	DefaultMaxPayload = 2 << 20
)

// ErrInvalidConfig is wrapped by every error that [Config.Validate] returns.
var ErrInvalidConfig = errors.New("broker: invalid config")

// Config configures one broker node. The zero value is a usable standalone
// node: JetStream on, clients on 0.0.0.0:4222, no cluster, no monitoring, no
// auth, a temporary JetStream store removed at shutdown, logs discarded.
//
// A node is clustered when Routes is non-empty or ClusterPort is non-zero.
// A clustered node with JetStream needs Routes: give EVERY node the FULL list
// of route URLs of all the nodes, its own included (a node ignores its own
// URL). The JetStream meta group sizes itself from that list, so the cluster
// elects a meta leader within about half a second. With only a seed URL per
// node, leader election can take many seconds or not happen at all.
type Config struct {
	// Name is the unique server name of this node within the cluster.
	// "" picks a random name at [New]. A node that keeps a persistent
	// StoreDir in a cluster must keep its Name across restarts: JetStream
	// identifies Raft peers by server name.
	Name string

	// Host is the address the client listener binds to. "" means DefaultHost.
	Host string
	// Port is the client port: 0 means DefaultPort (4222), -1 a random free
	// port (read it back with [Broker.ClientURL]).
	Port int
	// DontListen opens no client listener at all: clients connect in-process
	// only, through [Broker.InProcessConn]. Port is then ignored.
	DontListen bool
	// ClientAdvertise is the host:port that this node advertises to clients
	// in cluster gossip, for example when behind NAT or in a container.
	ClientAdvertise string

	// StoreDir is the JetStream storage directory. "" means a temporary
	// directory that the broker creates at Start and removes at Shutdown.
	StoreDir string
	// DisableJetStream turns JetStream off. The framework KV buckets then do
	// not exist; only useful for tests of core NATS features.
	DisableJetStream bool

	// ClusterName names the cluster; all nodes must agree. "" means
	// DefaultClusterName when the node is clustered.
	ClusterName string
	// ClusterHost is the address the route listener binds to. "" means Host.
	ClusterHost string
	// ClusterPort is the route port: 0 means no route listener, unless Routes
	// is set, in which case DefaultClusterPort; -1 means a random free port.
	ClusterPort int
	// Routes are the nats-route URLs (nats-route://host:port) of the cluster
	// nodes. A bare "host:port" is accepted. Give every node the full list,
	// its own URL included; see the type documentation.
	Routes []string
	// ClusterAdvertise is the host:port that this node advertises to the
	// other nodes for routes.
	ClusterAdvertise string

	// HTTPPort serves the NATS monitoring endpoints (/varz, /jsz, ...) on
	// Host. 0 means off, -1 a random free port.
	HTTPPort int
	// MetricsAddr serves Prometheus metrics over HTTP on /metrics at this
	// address (such as "127.0.0.1:0" or ":9222"): the logic servers' per
	// route stats, gathered over NATS at every scrape (package stats), and
	// the broker process's Go metrics. "" means off.
	MetricsAddr string
	// TraceURL is the dashboard's link to a trace UI, with {traceID} in
	// place of the trace ID, such as
	// "http://jaeger:16686/trace/{traceID}". Default: the environment
	// variable IOGO_TRACE_URL (EnvTraceURL); "" shows trace IDs unlinked.
	TraceURL string

	// User and Password, when set, are required from every client
	// connection, and from the other nodes on the cluster port (the broker
	// adds them to its route URLs; every node must have the same pair).
	// Both or neither must be set.
	User     string
	Password string
	// NKeys are the public keys ("U...") of NATS nkey users allowed to
	// connect, in addition to User; a service proves its key with the
	// seed's signature (the -nkey-seed flag of the services), so no secret
	// crosses the network. Routes are authenticated only by User/Password.
	NKeys []string
	// User/Password and NKeys have every permission: they are for the
	// operator (and for a cluster's routes). Services and tools connect
	// with a user of their role instead.

	// Users are the credentials of the services and tools, each with its
	// role (fabric.RoleGate, RoleLogic, RoleTool), which decides the
	// subjects it may publish and subscribe to ([Permissions]): a logic
	// server cannot receive a gate's control messages or read replies
	// meant for players, a tool only reads the registry and stats. A
	// client of a role sets that role's inbox prefix
	// (fabric.InboxPrefix).
	Users []User
	// With any of the above set, or with DontListen, the broker requires
	// authentication: [Broker.InProcessConn] and [Broker.InProcessConnAs]
	// then connect as internal users of its own, which accept in-process
	// connections only. Without, the broker accepts anyone, with every
	// permission.

	// MaxPayload is the largest message a client may publish, in bytes.
	// 0 means DefaultMaxPayload: twice the gate's default frame limit
	// (wire.DefaultMaxFrame), so that a full-size client payload still fits
	// with its routing headers.
	MaxPayload int32

	// Logger receives the broker's and the NATS server's logs. nil discards
	// them. NATS debug logs are produced only when Logger is enabled for
	// slog.LevelDebug.
	Logger *slog.Logger
}

// Authenticated reports whether clients must authenticate (User, NKeys,
// Users or DontListen).
func (c Config) Authenticated() bool {
	return c.User != "" || len(c.NKeys) > 0 || len(c.Users) > 0 || c.DontListen
}

// Clustered reports whether c describes a node that takes part in a cluster.
func (c Config) Clustered() bool { return c.ClusterPort != 0 || len(c.Routes) > 0 }

// Validate reports the first problem with c, wrapped in [ErrInvalidConfig].
// Zero values are valid; they stand for the documented defaults.
func (c Config) Validate() error {
	for _, p := range []struct {
		name string
		port int
	}{{"Port", c.Port}, {"ClusterPort", c.ClusterPort}, {"HTTPPort", c.HTTPPort}} {
		if p.port < -1 || p.port > 65535 {
			return fmt.Errorf("%w: %s %d out of range [-1, 65535]", ErrInvalidConfig, p.name, p.port)
		}
	}
	if c.MaxPayload < 0 {
		return fmt.Errorf("%w: negative MaxPayload %d", ErrInvalidConfig, c.MaxPayload)
	}
	if (c.User == "") != (c.Password == "") {
		return fmt.Errorf("%w: User and Password must be set together", ErrInvalidConfig)
	}
	for _, k := range c.NKeys {
		if err := validNKey(k); err != nil {
			return fmt.Errorf("%w: NKeys: %w", ErrInvalidConfig, err)
		}
	}
	names := make(map[string]bool)
	for _, u := range c.Users {
		if err := u.validate(); err != nil {
			return fmt.Errorf("%w: Users: %w", ErrInvalidConfig, err)
		}
		if u.label() == c.User || names[u.label()] || slices.Contains(c.NKeys, u.NKey) {
			return fmt.Errorf("%w: Users: %q is given twice", ErrInvalidConfig, u.label())
		}
		names[u.label()] = true
	}
	if c.Clustered() && c.Authenticated() && c.User == "" && !c.DontListen {
		// The route port would be open: any process reaching it could join
		// as a server and bypass every client permission.
		return fmt.Errorf("%w: a clustered broker with client credentials needs User and Password, which guard its routes", ErrInvalidConfig)
	}
	if strings.ContainsAny(c.Name, " \t\r\n") {
		return fmt.Errorf("%w: Name %q contains white space", ErrInvalidConfig, c.Name)
	}
	for _, r := range c.Routes {
		if _, err := parseRoute(r); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
	}
	for _, a := range []struct{ name, v string }{
		{"ClientAdvertise", c.ClientAdvertise}, {"ClusterAdvertise", c.ClusterAdvertise},
	} {
		if a.v == "" {
			continue
		}
		if strings.Contains(a.v, "://") || strings.ContainsAny(a.v, " \t,") {
			return fmt.Errorf("%w: %s %q is not host[:port]", ErrInvalidConfig, a.name, a.v)
		}
	}
	if c.Clustered() && !c.DisableJetStream && len(c.Routes) == 0 {
		return fmt.Errorf("%w: a clustered broker with JetStream needs Routes (the full list of cluster nodes)", ErrInvalidConfig)
	}
	return nil
}

// withDefaults returns c with every zero field replaced by its default.
// c must be valid.
func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = "iogo-broker-" + strings.ToLower(rand.Text()[:12])
	}
	if c.Host == "" {
		c.Host = DefaultHost
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.MaxPayload == 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.Clustered() {
		if c.ClusterName == "" {
			c.ClusterName = DefaultClusterName
		}
		if c.ClusterHost == "" {
			c.ClusterHost = c.Host
		}
		if c.ClusterPort == 0 {
			c.ClusterPort = DefaultClusterPort
		}
	}
	c.Routes = append([]string(nil), c.Routes...)
	c.NKeys = append([]string(nil), c.NKeys...)
	c.Users = append([]User(nil), c.Users...)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validNKey reports whether k is a public user nkey.
func validNKey(k string) error {
	if !nkeys.IsValidPublicUserKey(k) {
		return fmt.Errorf("%q is not a public user nkey (U...)", k)
	}
	return nil
}

// parseRoute parses one route URL; "host:port" gets the nats-route scheme.
func parseRoute(s string) (*url.URL, error) {
	raw := strings.TrimSpace(s)
	if raw == "" {
		return nil, errors.New("empty route URL")
	}
	if !strings.Contains(raw, "://") {
		raw = "nats-route://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("route %q: %w", s, err)
	}
	switch u.Scheme {
	case "nats-route", "nats", "tls":
	default:
		return nil, fmt.Errorf("route %q: unsupported scheme %q", s, u.Scheme)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil, fmt.Errorf("route %q: want host:port: %w", s, err)
	}
	if host == "" {
		return nil, fmt.Errorf("route %q: missing host", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("route %q: bad port %q", s, port)
	}
	return u, nil
}
