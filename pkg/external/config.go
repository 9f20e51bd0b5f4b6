package external

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/nats-io/nats.go"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// Defaults applied to zero fields of a Config.
const (
	// DefaultWSPath is the HTTP path of the WebSocket endpoint.
	DefaultWSPath = "/websocket"
	// DefaultRequestTimeout is how long a forwarded request waits for its
	// reply before the client gets CodeSystem "request timeout".
	DefaultRequestTimeout = 5 * time.Second
	// DefaultWriteQueue is the most envelopes queued for one session before
	// the session is closed as too slow.
	DefaultWriteQueue = 1024
	// DefaultIdleTimeout is how long a connection may stay silent before
	// the gate sends errs.CodeIdleTimeout and closes it.
	DefaultIdleTimeout = 60 * time.Second
	// DefaultRateLimit is the sustained rate, in requests per second, of
	// one connection's business requests.
	DefaultRateLimit = 100
	// burstSeconds sets the default RateBurst: this many seconds' worth of
	// RateLimit, so a client may fire a scene's worth of requests at once.
	burstSeconds = 2
	// ceilingFactor sets the default RateCeiling: this many times RateLimit.
	ceilingFactor = 10
	// DefaultHandshakeTimeout is how long a new connection has to finish
	// its handshake: the HTTP upgrade of a WebSocket, the first frame of a
	// TCP or KCP connection, a PROXY protocol header.
	DefaultHandshakeTimeout = 10 * time.Second
)

// KCP modes (Config.KCPMode).
const (
	// KCPFast is KCP's fast mode, for games: no delayed ACKs, a 10 ms
	// internal clock, fast retransmission after 2 duplicate ACKs and no
	// congestion window.
	KCPFast = "fast"
	// KCPNormal is KCP's default mode: a 40 ms clock, congestion control,
	// no fast retransmission. Kinder to a shared network, slower to recover
	// a lost packet.
	KCPNormal = "normal"
)

// Config configures an external server. The zero value is usable once a
// transport is chosen: every other field has a default.
type Config struct {
	// ID is this gate's instance ID. It names the gate in request metadata
	// and in its reply inbox, so it must be a valid NATS subject token and
	// unique in the cluster. Default: "ext-" and 12 random hex digits.
	ID string

	// WSAddr is the WebSocket listen address, such as "127.0.0.1:0" or
	// ":10100". "" disables WebSocket.
	WSAddr string
	// WSPath is the HTTP path of the WebSocket endpoint. Default "/websocket".
	WSPath string
	// TCPAddr is the TCP listen address (length-prefixed frames). "" disables TCP.
	TCPAddr string
	// KCPAddr is the UDP listen address of KCP (xtaci/kcp-go), with the
	// same length-prefixed frames as TCP. "" disables KCP.
	KCPAddr string
	// KCPMode is KCPFast (default) or KCPNormal. KCP runs without FEC and
	// without encryption.
	KCPMode string
	// KCPPlain turns off the cookie handshake in front of KCP, so that
	// plain KCP clients (kcp-go's Dial, or any KCP library without FEC or
	// encryption) can connect; iogo's Go client then needs ?plain=true in
	// its kcp:// URL. By default a KCP client first proves its address with
	// a stateless cookie exchange (docs/wire-protocol.md) and every datagram
	// it sends carries the cookie. Turning it off is risky on a public
	// address: any spoofed datagram then makes the gate send retransmitted
	// segments to the spoofed address (a reflection amplifier), and one
	// forged datagram with a player's address and port, another
	// conversation ID and sequence number 0 replaces that player's session.
	KCPPlain bool

	// Codec is the envelope and payload codec of connections that do not
	// choose one: "protobuf" (default) or "json". A WebSocket client may
	// override it with the query ?codec=json or ?codec=protobuf.
	Codec string
	// MaxFrame is the largest envelope, in bytes, accepted from a client;
	// a larger one closes the connection. Default wire.DefaultMaxFrame.
	MaxFrame int
	// RequestTimeout bounds the wait for a logic server's reply. Overdue
	// requests are found by a sweep every RequestTimeout/10 (at most every
	// 500 ms), so a timeout fires up to that much late. Default
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
	// WriteQueue bounds the envelopes queued for one session; a session
	// whose queue overflows is closed. Default DefaultWriteQueue.
	WriteQueue int

	// IdleTimeout is how long a connection may send nothing at all (no
	// heartbeat, no request) before the gate sends it an envelope with
	// CmdCode 0, MsgID 0 and status errs.CodeIdleTimeout, then closes it.
	// Clients keep a quiet connection open with heartbeats. Default
	// DefaultIdleTimeout; negative turns the timeout off (not advised with
	// KCP, whose clients can vanish without a trace).
	IdleTimeout time.Duration
	// RateLimit is the sustained rate, in envelopes per second, that one
	// connection may send, heartbeats excepted. An envelope over the limit
	// is answered at once with ErrRateLimited and goes no further; the
	// connection stays open. Default DefaultRateLimit; negative turns the
	// limit off.
	RateLimit float64
	// RateBurst is how many envelopes a connection may send at once,
	// above the sustained rate (the token bucket's size). Default: two
	// seconds' worth, 2 × RateLimit rounded up.
	RateBurst int
	// RateCeiling is the sustained rate, in envelopes per second, above
	// which a connection is closed as abusive (a token bucket holding one
	// second's worth, and at least RateBurst). Default 10 × RateLimit when RateLimit is on;
	// negative turns it off. It must not be below RateLimit.
	RateCeiling float64

	// HandshakeTimeout bounds how long a new connection may take to prove
	// it is a client, on every transport: a WebSocket connection must send
	// its whole HTTP upgrade request within it (the first byte, then the
	// rest, each within HandshakeTimeout; a keep-alive connection waits as
	// long for its next request); a TCP or KCP connection must send a
	// complete first envelope within it; a PROXY protocol header
	// (TrustedProxies) must arrive within it. A connection that does not is
	// closed without a reply and counted (iogo_gate_handshake_timeouts_total).
	// Once upgraded or past its first envelope, a connection is governed
	// by IdleTimeout. Default DefaultHandshakeTimeout; negative turns it off.
	HandshakeTimeout time.Duration
	// MaxConnsPerAddr is the most connections one client address may hold
	// open at once, over WebSocket, TCP and KCP together, counted from
	// the moment a connection is accepted (handshakes included). An IPv6
	// client counts by its /64 network. A connection over the limit is
	// closed at once (a WebSocket upgrade that names its client in
	// X-Forwarded-For gets HTTP 429) and counted
	// (iogo_gate_refused_total{reason="addr_limit"}). The address is the
	// real client's when a trusted proxy names it (TrustedProxies); a
	// trusted proxy's own address is never limited. 0 (default) means no
	// limit: load tests open thousands of connections from one address.
	MaxConnsPerAddr int
	// TrustedProxies lists the proxies and load balancers, as IP addresses
	// or CIDR prefixes ("10.0.0.0/8", "127.0.0.1", "::1"), whose word on
	// the client's address is taken: a PROXY protocol v1 or v2 header that
	// opens a TCP or WebSocket connection from one of them, and the
	// X-Forwarded-For (the rightmost address that is not a trusted proxy)
	// or, failing that, X-Real-IP header of a WebSocket upgrade request
	// from one of them. That address is the session's fabric.AttrIP, the
	// one in logs and the one MaxConnsPerAddr counts. A PROXY header from
	// any other address closes the connection (counted as
	// reason="untrusted_proxy"); forwarding headers from any other
	// address are ignored. Empty (default): no PROXY header is read and no
	// forwarding header is believed.
	TrustedProxies []string

	// Conn is an established NATS connection to use, for example an
	// in-process one. The server does not close it. Set Conn or Brokers,
	// not both.
	Conn *nats.Conn
	// Brokers lists NATS URLs to dial when Conn is nil. The connection
	// reconnects forever with backoff. Default nats.DefaultURL.
	Brokers []string
	// NATSOptions are applied after the server's own options when it dials
	// Brokers: credentials, TLS, or overrides.
	NATSOptions []nats.Option

	// Logger receives the server's logs. Default slog.Default().
	Logger *slog.Logger
	// MetricsAddr serves the gate's Prometheus metrics (sessions, pending
	// requests, Go runtime) over HTTP on /metrics at this address; "" means
	// off. The logic servers' per-route stats are served by the broker.
	MetricsAddr string
	// TracerProvider traces every forwarded request (OpenTelemetry, W3C
	// trace context in NATS headers; see package trace); nil turns tracing
	// off at no cost.
	TracerProvider oteltrace.TracerProvider

	// TLSCertFile and TLSKeyFile name a PEM certificate (chain) and its
	// private key. When set, WebSocket is served as wss:// and TCP as TLS
	// (clients dial tls://host:port); KCP stays plaintext. TLS 1.2 is the
	// minimum. The files are checked for a change at most once a second
	// and a changed pair is loaded for new connections (Server.ReloadTLS
	// reloads at once). Default: no TLS. See tls.go.
	TLSCertFile string
	TLSKeyFile  string
	// TLSSelfSigned serves TLS with a certificate generated in memory at
	// Start for the listen hosts and localhost; its SHA-256 fingerprint is
	// logged and returned by Server.TLSFingerprint, for a development
	// client to pin (client.PinnedTLS). For development only. It excludes
	// TLSCertFile.
	TLSSelfSigned bool
	// TLSConfig is the base TLS configuration when set: the server clones
	// it and raises MinVersion to TLS 1.2. With neither TLSCertFile nor
	// TLSSelfSigned it must carry the certificate itself (Certificates or
	// GetCertificate); setting it alone turns TLS on.
	TLSConfig *tls.Config
	// Authorize, when set, vets every WebSocket upgrade request before any
	// session exists: it sees the client's address, path, query and
	// headers, and refuses with an error (an *AuthError chooses HTTP 401
	// or 403 and the message; any other error is a 401 "unauthorized") or
	// admits, optionally with session attributes for the new session (for
	// example the user of a verified token). Refusals are counted
	// (iogo_gate_auth_refused_total) and logged, at most once a second.
	// TCP and KCP have no HTTP step: their gate is the first request (a
	// login route). BearerToken and HMACToken are ready-made hooks.
	// Default nil: every upgrade is admitted. See auth.go.
	Authorize func(ctx context.Context, r *UpgradeRequest) (map[string]string, error)
	// Regions holds the external-region actions this gate serves to logic
	// servers (HandleRegion; logic.RegionCall and friends call them).
	// Default nil: only the built-in actions. See region.go.
	Regions *Regions
}

// Validate reports the first invalid field of c. Zero fields are valid; at
// least one transport must be enabled.
func (c *Config) Validate() error {
	if c.ID != "" {
		if err := validToken(c.ID); err != nil {
			return fmt.Errorf("external: ID %q: %w", c.ID, err)
		}
	}
	if c.WSAddr == "" && c.TCPAddr == "" && c.KCPAddr == "" {
		return errors.New("external: no transport: set WSAddr, TCPAddr or KCPAddr")
	}
	switch c.KCPMode {
	case "", KCPFast, KCPNormal:
	default:
		return fmt.Errorf("external: KCPMode %q: want %q or %q", c.KCPMode, KCPFast, KCPNormal)
	}
	if c.WSPath != "" && !strings.HasPrefix(c.WSPath, "/") {
		return fmt.Errorf("external: WSPath %q must start with /", c.WSPath)
	}
	if _, err := wire.CodecFor(c.Codec); err != nil {
		return fmt.Errorf("external: %w", err)
	}
	if c.MaxFrame < 0 {
		return fmt.Errorf("external: negative MaxFrame %d", c.MaxFrame)
	}
	if c.RequestTimeout < 0 {
		return fmt.Errorf("external: negative RequestTimeout %v", c.RequestTimeout)
	}
	if c.WriteQueue < 0 {
		return fmt.Errorf("external: negative WriteQueue %d", c.WriteQueue)
	}
	if err := c.validateRate(); err != nil {
		return err
	}
	if err := c.validateSecurity(); err != nil { // tls.go
		return err
	}
	if err := c.validateEdge(); err != nil { // edge.go
		return err
	}
	if c.Conn != nil && len(c.Brokers) > 0 {
		return errors.New("external: set Conn or Brokers, not both")
	}
	for _, u := range c.Brokers {
		if strings.TrimSpace(u) == "" {
			return errors.New("external: empty broker URL")
		}
	}
	return nil
}

// withDefaults returns a copy of c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.ID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
		c.ID = "ext-" + hex.EncodeToString(b[:])
	}
	if c.WSPath == "" {
		c.WSPath = DefaultWSPath
	}
	if c.Codec == "" {
		c.Codec = wire.NameProtobuf
	}
	if c.MaxFrame == 0 {
		c.MaxFrame = wire.DefaultMaxFrame
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.WriteQueue == 0 {
		c.WriteQueue = DefaultWriteQueue
	}
	if c.KCPMode == "" {
		c.KCPMode = KCPFast
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.RateLimit == 0 {
		c.RateLimit = DefaultRateLimit
	}
	if c.RateBurst == 0 && c.RateLimit > 0 {
		c.RateBurst = int(math.Ceil(burstSeconds * c.RateLimit))
	}
	if c.RateCeiling == 0 && c.RateLimit > 0 {
		c.RateCeiling = ceilingFactor * c.RateLimit
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.Conn == nil && len(c.Brokers) == 0 {
		c.Brokers = []string{nats.DefaultURL}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// validateRate checks the rate-limit fields. The ceiling is compared with
// the effective limit, so a ceiling below the default limit is refused too.
func (c *Config) validateRate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"RateLimit", c.RateLimit}, {"RateCeiling", c.RateCeiling}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("external: %s %v is not a number of requests per second", f.name, f.v)
		}
	}
	if c.RateBurst < 0 {
		return fmt.Errorf("external: negative RateBurst %d", c.RateBurst)
	}
	limit := c.RateLimit
	if limit == 0 {
		limit = DefaultRateLimit
	}
	if limit > 0 && c.RateCeiling > 0 && c.RateCeiling < limit {
		return fmt.Errorf("external: RateCeiling %v is below RateLimit %v", c.RateCeiling, limit)
	}
	return nil
}

// validToken reports whether s can be one token of a NATS subject: not
// empty, printable ASCII, and none of the separators and wildcards . * >.
func validToken(s string) error {
	if len(s) > 128 {
		return errors.New("longer than 128 bytes")
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c <= ' ' || c >= 0x7f:
			return fmt.Errorf("invalid byte %#x", c)
		case c == '.' || c == '*' || c == '>':
			return fmt.Errorf("%q is not allowed in a subject token", c)
		}
	}
	return nil
}
