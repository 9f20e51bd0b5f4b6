package external

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/nats-io/nats.go"
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
}

// Validate reports the first invalid field of c. Zero fields are valid; at
// least one transport must be enabled.
func (c *Config) Validate() error {
	if c.ID != "" {
		if err := validToken(c.ID); err != nil {
			return fmt.Errorf("external: ID %q: %w", c.ID, err)
		}
	}
	if c.WSAddr == "" && c.TCPAddr == "" {
		return errors.New("external: no transport: set WSAddr or TCPAddr")
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
	if c.Conn == nil && len(c.Brokers) == 0 {
		c.Brokers = []string{nats.DefaultURL}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
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
