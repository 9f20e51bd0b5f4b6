package external

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

// fasthttp keeps two goroutines of its own: a once-per-process clock for
// the Date header, and a worker-pool cleaner that notices Shutdown only
// after its idle period (10 s). Neither belongs to a gate.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	)
}

// testLogger discards logs unless IOGO_TEST_LOG=1.
func testLogger() *slog.Logger {
	if os.Getenv("IOGO_TEST_LOG") == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// runNATS starts an embedded NATS server on a random port.
func runNATS(t testing.TB) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
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
// the reply's metadata and body, or ok=false for no reply.
func respond(t testing.TB, nc *nats.Conn, cmd, sub int32, fn func(*nats.Msg) (r fabric.Reply, body []byte, ok bool)) {
	t.Helper()
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
