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

	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/external"
	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
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
				c.RequestTimeout != external.DefaultRequestTimeout || s.logLevel != slog.LevelInfo {
				t.Fatalf("%+v", s)
			}
		}},
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
	tests := []struct {
		name    string
		ws, tcp net.Addr
		want    string
	}{
		{"both", ws, any, "iogo external ready ws=ws://10.0.0.1:10100/websocket tcp=tcp://127.0.0.1:10200"},
		{"ws only", ws, nil, "iogo external ready ws=ws://10.0.0.1:10100/websocket"},
		{"tcp only", nil, any, "iogo external ready tcp=tcp://127.0.0.1:10200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readyLine(tt.ws, tt.tcp, "/websocket"); got != tt.want {
				t.Fatalf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestRun runs the command against an embedded broker, parses the ready
// line as end-to-end tests do, and talks to both transports.
func TestRun(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("broker not ready")
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, outW := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"-brokers", ns.ClientURL(), "-ws", "127.0.0.1:0", "-tcp", "127.0.0.1:0"},
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
	for _, key := range []string{"ws", "tcp"} {
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
