package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/external"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).sched"),
		goleak.IgnoreAnyFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).prepend"),
	)
}

func envOf(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   []string
		check func(t *testing.T, s settings)
		fails bool
	}{
		{name: "defaults", check: func(t *testing.T, s settings) {
			c := s.cfg
			if !slices.Equal(c.Brokers, []string{"nats://127.0.0.1:4222"}) || c.WSAddr != ":10100" || c.TCPAddr != "" ||
				c.ID != "" || c.Codec != "protobuf" || c.MaxFrame != wire.DefaultMaxFrame ||
				c.RequestTimeout != external.DefaultRequestTimeout || s.logLevel != slog.LevelInfo ||
				c.KCPAddr != "" || c.KCPMode != external.KCPFast || c.IdleTimeout != external.DefaultIdleTimeout ||
				c.RateLimit != external.DefaultRateLimit || c.RateBurst != 0 || c.RateCeiling != 0 ||
				c.HandshakeTimeout != external.DefaultHandshakeTimeout || c.KCPPlain || c.MaxConnsPerAddr != 0 || c.TrustedProxies != nil {
				t.Fatalf("%+v", s)
			}
		}},
		{name: "robustness flags", args: []string{"-kcp", ":10300", "-kcp-mode", "normal", "-idle", "30s",
			"-rate", "-1", "-rate-burst", "7", "-rate-ceiling", "500"},
			check: func(t *testing.T, s settings) {
				c := s.cfg
				if c.KCPAddr != ":10300" || c.KCPMode != external.KCPNormal || c.IdleTimeout != 30*time.Second ||
					c.RateLimit != -1 || c.RateBurst != 7 || c.RateCeiling != 500 {
					t.Fatalf("%+v", s)
				}
			}},
		{name: "kcp env", env: []string{"IOGO_EXTERNAL_KCP", ":1", "IOGO_EXTERNAL_WS", "", "IOGO_EXTERNAL_IDLE", "-1s",
			"IOGO_EXTERNAL_RATE", "2.5"},
			check: func(t *testing.T, s settings) {
				c := s.cfg
				if c.KCPAddr != ":1" || c.WSAddr != "" || c.IdleTimeout != -time.Second || c.RateLimit != 2.5 {
					t.Fatalf("%+v", s)
				}
			}},
		{name: "kcp guard flags", args: []string{"-kcp", ":1", "-kcp-plain", "-handshake-timeout", "2s"},
			check: func(t *testing.T, s settings) {
				if c := s.cfg; !c.KCPPlain || c.HandshakeTimeout != 2*time.Second {
					t.Fatalf("%+v", s)
				}
			}},
		{name: "edge flags", args: []string{"-handshake-timeout", "2s", "-max-conns-per-addr", "8",
			"-trusted-proxies", "10.0.0.0/8, 127.0.0.1"},
			check: func(t *testing.T, s settings) {
				c := s.cfg
				if c.HandshakeTimeout != 2*time.Second || c.MaxConnsPerAddr != 8 ||
					!slices.Equal(c.TrustedProxies, []string{"10.0.0.0/8", "127.0.0.1"}) {
					t.Fatalf("%+v", s)
				}
			}},
		{name: "edge env", env: []string{"IOGO_EXTERNAL_HANDSHAKE_TIMEOUT", "-1s", "IOGO_EXTERNAL_TRUSTED_PROXIES", "::1"},
			check: func(t *testing.T, s settings) {
				c := s.cfg
				if c.HandshakeTimeout != -time.Second || !slices.Equal(c.TrustedProxies, []string{"::1"}) {
					t.Fatalf("%+v", s)
				}
			}},
		{name: "bad trusted proxy", args: []string{"-trusted-proxies", "lb.local"}, fails: true},
		{name: "negative conns per addr", args: []string{"-max-conns-per-addr", "-2"}, fails: true},
		{name: "bad kcp mode", args: []string{"-kcp-mode", "turbo"}, fails: true},
		{name: "ceiling below rate", args: []string{"-rate", "50", "-rate-ceiling", "10"}, fails: true},
		{name: "flags", args: []string{"-brokers", "nats://a:1, nats://b:2", "-ws", "", "-tcp", ":10200",
			"-id", "gate-7", "-codec", "json", "-max-frame", "4096", "-timeout", "2s", "-log-level", "debug"},
			check: func(t *testing.T, s settings) {
				c := s.cfg
				if !slices.Equal(c.Brokers, []string{"nats://a:1", "nats://b:2"}) || c.WSAddr != "" || c.TCPAddr != ":10200" ||
					c.ID != "gate-7" || c.Codec != "json" || c.MaxFrame != 4096 || c.RequestTimeout != 2*time.Second ||
					s.logLevel != slog.LevelDebug {
					t.Fatalf("%+v", s)
				}
			}},
		{name: "env", env: []string{"IOGO_EXTERNAL_BROKERS", "nats://e:1", "IOGO_EXTERNAL_TCP", ":1",
			"IOGO_EXTERNAL_MAX_FRAME", "100", "IOGO_EXTERNAL_TIMEOUT", "1m", "IOGO_EXTERNAL_LOG_LEVEL", "warn"},
			check: func(t *testing.T, s settings) {
				c := s.cfg
				if c.Brokers[0] != "nats://e:1" || c.TCPAddr != ":1" || c.MaxFrame != 100 ||
					c.RequestTimeout != time.Minute || s.logLevel != slog.LevelWarn {
					t.Fatalf("%+v", s)
				}
			}},
		{name: "flag beats env", args: []string{"-id", "flag"}, env: []string{"IOGO_EXTERNAL_ID", "env"},
			check: func(t *testing.T, s settings) {
				if s.cfg.ID != "flag" {
					t.Fatalf("ID %q", s.cfg.ID)
				}
			}},
		{name: "empty env disables ws", env: []string{"IOGO_EXTERNAL_WS", "", "IOGO_EXTERNAL_TCP", ":1"},
			check: func(t *testing.T, s settings) {
				if s.cfg.WSAddr != "" {
					t.Fatalf("WSAddr %q", s.cfg.WSAddr)
				}
			}},
		{name: "bad env number", env: []string{"IOGO_EXTERNAL_MAX_FRAME", "big"}, fails: true},
		{name: "bad duration", args: []string{"-timeout", "soon"}, fails: true},
		{name: "bad level", args: []string{"-log-level", "loud"}, fails: true},
		{name: "bad codec", args: []string{"-codec", "xml"}, fails: true},
		{name: "bad id", args: []string{"-id", "a.b"}, fails: true},
		{name: "no transport", args: []string{"-ws", ""}, fails: true},
		{name: "no broker", args: []string{"-brokers", " , "}, fails: true},
		{name: "extra argument", args: []string{"serve"}, fails: true},
		{name: "unknown flag", args: []string{"-nope"}, fails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := parseArgs(tt.args, envOf(tt.env...), io.Discard)
			if tt.fails {
				if err == nil {
					t.Fatalf("no error; got %+v", s)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
		})
	}
}

func TestReadyLine(t *testing.T) {
	ws := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 10100}
	any := &net.TCPAddr{IP: net.IPv6unspecified, Port: 10200}
	udp := &net.UDPAddr{IP: net.IPv4zero, Port: 10300}
	tests := []struct {
		name         string
		ws, tcp, kcp net.Addr
		want         string
	}{
		{"ws and tcp", ws, any, nil, "iogo external ready ws=ws://10.0.0.1:10100/websocket tcp=tcp://127.0.0.1:10200"},
		{"ws only", ws, nil, nil, "iogo external ready ws=ws://10.0.0.1:10100/websocket"},
		{"tcp only", nil, any, nil, "iogo external ready tcp=tcp://127.0.0.1:10200"},
		{"all three", ws, any, udp,
			"iogo external ready ws=ws://10.0.0.1:10100/websocket tcp=tcp://127.0.0.1:10200 kcp=kcp://127.0.0.1:10300"},
		{"kcp only", nil, nil, &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 5}, "iogo external ready kcp=kcp://10.0.0.2:5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readyLine(tt.ws, tt.tcp, tt.kcp, "/websocket"); got != tt.want {
				t.Fatalf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestRun runs the command against an embedded broker, parses the ready
// line as end-to-end tests do, and talks to both transports.
func TestRun(t *testing.T) {
	// A broker with JetStream: the gate reads the route registry at start.
	b, err := broker.New(broker.Config{Host: "127.0.0.1", Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	bctx, bcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer bcancel()
	if err := b.Start(bctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Shutdown(context.Background()) }()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, outW := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"-brokers", b.ClientURL(), "-ws", "127.0.0.1:0", "-tcp", "127.0.0.1:0", "-kcp", "127.0.0.1:0"},
			envOf(), outW, io.Discard)
		_ = outW.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line, "iogo external ready ") {
		t.Fatalf("ready line %q", line)
	}
	urls := map[string]string{}
	for _, kv := range strings.Fields(strings.TrimPrefix(line, "iogo external ready ")) {
		k, v, _ := strings.Cut(kv, "=")
		urls[k] = v
	}
	for _, key := range []string{"ws", "tcp", "kcp"} {
		c, err := client.Dial(ctx, urls[key])
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		hctx, hcancel := context.WithTimeout(ctx, 5*time.Second)
		err = c.Heartbeat(hctx)
		hcancel()
		_ = c.Close()
		if err != nil {
			t.Fatalf("%s heartbeat: %v", key, err)
		}
	}
	cancel()
	if c := <-code; c != 0 {
		t.Fatalf("exit code %d", c)
	}
}

func TestParseArgsCredentials(t *testing.T) {
	env := map[string]string{"IOGO_EXTERNAL_USER": "svc", "IOGO_EXTERNAL_PASSWORD": "pw"}
	s, err := parseArgs(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	apply := func(opts []nats.Option) nats.Options {
		var o nats.Options
		for _, opt := range opts {
			if err := opt(&o); err != nil {
				t.Fatal(err)
			}
		}
		return o
	}
	// The gate role's user, with the gate role's inbox prefix.
	if o := apply(s.cfg.NATSOptions); o.User != "svc" || o.Password != "pw" || o.InboxPrefix != fabric.InboxPrefix(fabric.RoleGate) {
		t.Fatalf("credentials from the environment: user %q, password %q, inbox %q", o.User, o.Password, o.InboxPrefix)
	}
	s, err = parseArgs(nil, func(string) (string, bool) { return "", false }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o := apply(s.cfg.NATSOptions); o.User != "" || o.InboxPrefix != fabric.InboxPrefix(fabric.RoleGate) {
		t.Fatalf("no credentials: user %q, inbox %q", o.User, o.InboxPrefix)
	}
}
