package external

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/broker/brokertest"
	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/registry"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
)

// fasthttp keeps two goroutines of its own: a once-per-process clock for
// the Date header, and a worker-pool cleaner that notices Shutdown only
// after its idle period (10 s). kcp-go starts its timer scheduler's
// goroutines when the package is loaded. None belongs to a gate.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).sched"),
		goleak.IgnoreAnyFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).prepend"),
	)
}

// testLogger discards logs unless IOGO_TEST_LOG=1.
func testLogger() *slog.Logger {
	if os.Getenv("IOGO_TEST_LOG") == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// runNATS starts an embedded broker (NATS with JetStream and the
// framework's KV buckets) on a random port and returns its NATS server.
func runNATS(t testing.TB) *server.Server {
	t.Helper()
	return brokertest.Start(t, broker.Config{}).Server()
}

// openRegistry opens the route registry through nc.
func openRegistry(t testing.TB, nc *nats.Conn) *registry.Registry {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Open(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// serveRoutes registers routes in the registry as served by a live
// instance of service "test" with ID instance, as a logic server does at
// start. Routes the gate should forward before login are public.
func serveRoutes(t testing.TB, nc *nats.Conn, instance string, access registry.Access, routes ...int32) {
	t.Helper()
	reg := openRegistry(t, nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	entries := make([]registry.Route, len(routes))
	for i, merge := range routes {
		entries[i] = registry.Route{Cmd: merge >> 16, Sub: merge & 0xffff, Service: "test", Access: access}
	}
	if err := reg.PublishRoutes(ctx, entries); err != nil {
		t.Fatal(err)
	}
	in := registry.Instance{ID: instance, Service: "test", Started: time.Now(), Routes: routes}
	if err := reg.Heartbeat(ctx, in); err != nil {
		t.Fatal(err)
	}
}

// connect opens a NATS connection, as a logic server would.
func connect(t testing.TB, ns *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// startGate starts a gate with both transports on random ports, connected
// to ns, after applying edit to its config.
func startGate(t testing.TB, ns *server.Server, edit func(*Config)) *Server {
	t.Helper()
	cfg := Config{
		WSAddr:  "127.0.0.1:0",
		TCPAddr: "127.0.0.1:0",
		Brokers: []string{ns.ClientURL()},
		Logger:  testLogger(),
	}
	if edit != nil {
		edit(&cfg)
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := g.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return g
}

func wsURL(g *Server) string  { return "ws://" + g.WSAddr().String() + "/websocket" }
func tcpURL(g *Server) string { return "tcp://" + g.TCPAddr().String() }

// dialT connects a client and closes it at the end of the test.
func dialT(t testing.TB, url string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// respond serves route (cmd, sub) on nc like a logic server: fn returns
// the reply's metadata and body, or ok=false for no reply. The route is
// registered as a public route, so that the gate forwards it before login.
func respond(t testing.TB, nc *nats.Conn, cmd, sub int32, fn func(*nats.Msg) (r fabric.Reply, body []byte, ok bool)) {
	t.Helper()
	serveRoutes(t, nc, fmt.Sprintf("test-%d-%d", cmd, sub), registry.AccessPublic, cmd<<16|sub)
	s, err := nc.QueueSubscribe(fabric.Request(cmd, sub), "test", func(m *nats.Msg) {
		r, body, ok := fn(m)
		if !ok {
			return
		}
		_ = nc.PublishMsg(&nats.Msg{Subject: m.Reply, Header: r.Header(), Data: body})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// echo replies with the request's body.
func echo(m *nats.Msg) (fabric.Reply, []byte, bool) { return fabric.Reply{}, m.Data, true }

// waitFor polls f until it returns nil or the deadline passes.
func waitFor(t testing.TB, total time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitClosed waits until the client's connection has ended.
func waitClosed(t testing.TB, c *client.Client) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection still open")
	}
}

// waitInterest waits until the NATS server has a subscriber for subject.
func waitInterest(t testing.TB, ns *server.Server, subject string, want bool) {
	t.Helper()
	waitFor(t, 5*time.Second, func() error {
		if ns.GlobalAccount().SubscriptionInterest(subject) != want {
			return fmt.Errorf("interest in %s: want %v", subject, want)
		}
		return nil
	})
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
