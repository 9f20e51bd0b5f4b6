package logic_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
	demopb "github.com/iogo-dev/iogo/proto/demo"
	"github.com/nats-io/nats.go"
)

// errNoGold is an application error that must survive a round trip.
var errNoGold = errs.New(4201, "not enough gold")

// newCallClient returns a Client on a connection of its own.
func newCallClient(t *testing.T, nc *nats.Conn) *logic.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := logic.NewClient(ctx, logic.ClientConfig{Conn: nc})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func withInstance(id string) func(*logic.Config) {
	return func(c *logic.Config) { c.InstanceID = id }
}

func withService(name string) func(*logic.Config) {
	return func(c *logic.Config) { c.Service = name }
}

func TestCall(t *testing.T) {
	b := startNATS(t)
	sent := make(chan string, 10)
	release := make(chan struct{})
	r := route.NewRouter()
	g := r.Group(3)
	route.Handle(g, 0, func(_ *logic.Ctx, n int64) (int64, error) { return 2 * n, nil })
	route.Handle(g, 1, func(_ *logic.Ctx, _ int64) (int64, error) { return 0, errNoGold })
	route.Handle(g, 2, func(_ *logic.Ctx, m *demopb.HelloReq) (*demopb.HelloResp, error) {
		return &demopb.HelloResp{Text: "internal " + m.Name}, nil
	}, route.Internal())
	route.HandleVoid(g, 3, func(_ *logic.Ctx, s string) error { sent <- s; return nil })
	route.Handle(g, 4, func(c *logic.Ctx, _ string) (*demopb.EchoMsg, error) {
		// What a call looks like to the handler: the caller's user, no
		// session.
		return &demopb.EchoMsg{Seq: c.UserID(), Text: c.Gate() + "|" + c.InstanceID()}, nil
	})
	route.Handle(g, 5, func(c *logic.Ctx, _ string) (string, error) {
		select {
		case <-release:
		case <-c.Context().Done():
		}
		return "late", nil
	})
	route.Handle(g, 6, func(_ *logic.Ctx, _ string) (string, error) { panic("boom") })
	startLogic(t, b, r, withService("calc"), withInstance("calc-1"))
	t.Cleanup(func() { close(release) }) // before the server's shutdown
	cl := newCallClient(t, connect(t, b))
	ctx := context.Background()

	t.Run("value", func(t *testing.T) {
		got, err := logic.Call[int64, int64](ctx, cl, 3, 0, 21)
		if err != nil || got != 42 {
			t.Fatalf("got %d, %v", got, err)
		}
	})
	t.Run("message to an internal route", func(t *testing.T) {
		got, err := logic.Call[*demopb.HelloReq, *demopb.HelloResp](ctx, cl, 3, 2, &demopb.HelloReq{Name: "x"})
		if err != nil || got.Text != "internal x" {
			t.Fatalf("got %v, %v", got, err)
		}
	})
	t.Run("application error", func(t *testing.T) {
		_, err := logic.Call[int64, int64](ctx, cl, 3, 1, 1)
		if !errors.Is(err, errNoGold) || errs.Code(err) != 4201 || !strings.Contains(err.Error(), "not enough gold") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("panic", func(t *testing.T) {
		_, err := logic.Call[string, string](ctx, cl, 3, 6, "")
		if !errors.Is(err, errs.ErrSystem) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("route not served", func(t *testing.T) {
		_, err := logic.Call[int64, int64](ctx, cl, 99, 9, 1)
		if !errors.Is(err, errs.ErrRouteNotFound) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := logic.Call[string, string](tctx, cl, 3, 5, "")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("timeout took %v", d)
		}
	})
	t.Run("metadata", func(t *testing.T) {
		got, err := logic.Call[string, *demopb.EchoMsg](ctx, cl, 3, 4, "")
		if err != nil || got.Seq != 0 || got.Text != "|calc-1" {
			t.Fatalf("no user: got %v, %v", got, err)
		}
		got, err = logic.Call[string, *demopb.EchoMsg](ctx, cl.As(77), 3, 4, "")
		if err != nil || got.Seq != 77 || got.Text != "|calc-1" {
			t.Fatalf("as user 77: got %v, %v", got, err)
		}
	})
	t.Run("send", func(t *testing.T) {
		// A spy sees every reply any server sends: there must be none for
		// Send, only the one for the Call that follows it.
		spy := connect(t, b)
		replies := make(chan *nats.Msg, 10)
		sub, err := spy.ChanSubscribe(">", replies)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		if err := spy.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := logic.Send(ctx, cl.As(5), 3, 3, "fire"); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-sent:
			if s != "fire" {
				t.Fatalf("handler got %q", s)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("handler did not run")
		}
		// Calls of one user at one depth run in order: once this reply is
		// in, a reply to the Send would have been sent before it.
		if _, err := logic.Call[int64, int64](ctx, cl.As(5), 3, 0, 1); err != nil {
			t.Fatal(err)
		}
		if err := spy.Flush(); err != nil {
			t.Fatal(err)
		}
		// Count route replies: messages to an inbox that are not JetStream
		// API answers (JSON), such as the registry heartbeat's.
		n := 0
		for len(replies) > 0 {
			if m := <-replies; strings.HasPrefix(m.Subject, "_INBOX.") && !bytes.HasPrefix(m.Data, []byte("{")) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d replies seen, want 1 (the Call's)", n)
		}
	})
}

func TestCallFromHandlerNoDeadlock(t *testing.T) {
	b := startNATS(t)
	var depth3 atomic.Int32
	r := route.NewRouter()
	g := r.Group(5)
	// 5-0, a client's request, calls its own service for its own user;
	// that call (5-1) calls again (5-2), and each answer comes back up.
	route.Handle(g, 0, func(c *logic.Ctx, n int64) (int64, error) {
		return logic.Call[int64, int64](c.Context(), c, 5, 1, n+1)
	})
	route.Handle(g, 1, func(c *logic.Ctx, n int64) (int64, error) {
		return logic.Call[int64, int64](c.Context(), c, 5, 2, n+1)
	})
	route.Handle(g, 2, func(c *logic.Ctx, n int64) (int64, error) {
		depth3.Store(int32(c.UserID()))
		return n * 100, nil
	})
	// 5-3 calls itself forever: the depth limit ends the loop.
	route.Handle(g, 3, func(c *logic.Ctx, n int64) (int64, error) {
		return logic.Call[int64, int64](c.Context(), c, 5, 3, n+1)
	})
	startLogic(t, b, r, withService("self"))
	nc := connect(t, b)

	start := time.Now()
	got, rep := ask[int64, int64](t, nc, "", fabric.Meta{Cmd: 5, Sub: 0, UserID: 7, Session: 1}, 1)
	if rep.Status != 0 || got != 300 {
		t.Fatalf("got %d, status %d %q", got, rep.Status, rep.Error)
	}
	if depth3.Load() != 7 {
		t.Fatalf("innermost call saw user %d, want 7", depth3.Load())
	}
	_, rep = ask[int64, int64](t, nc, "", fabric.Meta{Cmd: 5, Sub: 3, UserID: 7, Session: 1}, 0)
	if rep.Status != errs.CodeSystem || !strings.Contains(rep.Error, "too deep") {
		t.Fatalf("call loop: status %d %q", rep.Status, rep.Error)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestCallAll(t *testing.T) {
	b := startNATS(t)
	block := make(chan struct{})
	r := route.NewRouter()
	g := r.Group(4)
	route.Handle(g, 0, func(c *logic.Ctx, _ string) (string, error) { return c.InstanceID(), nil })
	route.Handle(g, 1, func(c *logic.Ctx, _ string) (string, error) {
		if c.InstanceID() == "fan-b" {
			<-block // never answers in time
		}
		return c.InstanceID(), nil
	})
	route.Handle(g, 2, func(c *logic.Ctx, _ string) (string, error) {
		if c.InstanceID() == "fan-b" {
			return "", errNoGold
		}
		return "ok", nil
	})
	startLogic(t, b, r, withService("fan"), withInstance("fan-a"))
	startLogic(t, b, r, withService("fan"), withInstance("fan-b"))
	t.Cleanup(func() { close(block) }) // before the servers' shutdown
	cl := newCallClient(t, connect(t, b))
	ctx := context.Background()

	t.Run("every instance answers", func(t *testing.T) {
		res, err := logic.CallAll[string, string](ctx, cl, 4, 0, "")
		if err != nil {
			t.Fatal(err)
		}
		if res.Partial || len(res.Missing) != 0 || len(res.Replies) != 2 {
			t.Fatalf("got %+v", res)
		}
		var ids []string
		for _, rep := range res.Replies {
			if rep.Err != nil || rep.Value != rep.Instance {
				t.Fatalf("reply %+v", rep)
			}
			ids = append(ids, rep.Instance)
		}
		slices.Sort(ids)
		if !slices.Equal(ids, []string{"fan-a", "fan-b"}) {
			t.Fatalf("answered: %v", ids)
		}
	})
	t.Run("one instance blocked", func(t *testing.T) {
		const timeout = 500 * time.Millisecond
		tctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		start := time.Now()
		res, err := logic.CallAll[string, string](tctx, cl, 4, 1, "")
		elapsed := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Partial || !slices.Equal(res.Missing, []string{"fan-b"}) ||
			len(res.Replies) != 1 || res.Replies[0].Instance != "fan-a" || res.Replies[0].Value != "fan-a" {
			t.Fatalf("got %+v", res)
		}
		if elapsed < timeout || elapsed > timeout+2*time.Second {
			t.Fatalf("returned after %v, timeout %v", elapsed, timeout)
		}
	})
	t.Run("per-instance errors", func(t *testing.T) {
		res, err := logic.CallAll[string, string](ctx, cl, 4, 2, "")
		if err != nil || res.Partial || len(res.Replies) != 2 {
			t.Fatalf("got %+v, %v", res, err)
		}
		for _, rep := range res.Replies {
			switch rep.Instance {
			case "fan-a":
				if rep.Err != nil || rep.Value != "ok" {
					t.Fatalf("fan-a: %+v", rep)
				}
			case "fan-b":
				if !errors.Is(rep.Err, errNoGold) {
					t.Fatalf("fan-b: %+v", rep)
				}
			}
		}
	})
	t.Run("route not served", func(t *testing.T) {
		if _, err := logic.CallAll[string, string](ctx, cl, 4, 9, ""); !errors.Is(err, errs.ErrRouteNotFound) {
			t.Fatalf("got %v", err)
		}
	})
}

// BenchmarkCall measures one Call round trip: client → broker (TCP) →
// logic server → broker → client.
func BenchmarkCall(b *testing.B) {
	br, err := broker.New(broker.Config{Host: "127.0.0.1", Port: -1})
	if err != nil {
		b.Fatal(err)
	}
	if err := br.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer br.Shutdown(context.Background())
	r := route.NewRouter()
	route.Handle(r.Group(3), 0, func(_ *logic.Ctx, n int64) (int64, error) { return n + 1, nil })
	srv, err := logic.New(logic.Config{Service: "bench", Router: r, Brokers: []string{br.ClientURL()}})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	nc, err := nats.Connect(br.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	cl, err := logic.NewClient(context.Background(), logic.ClientConfig{Conn: nc})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(32) // many handlers calling at once
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := logic.Call[int64, int64](ctx, cl, 3, 0, 1); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func ExampleCall() {
	var cl *logic.Client // Server.Client(), or logic.NewClient
	ctx := context.Background()
	// Request/response to route 3-1 of whichever service serves it, on
	// behalf of user 42; an *errs.Error of the handler comes back as is.
	gold, err := logic.Call[int64, int64](ctx, cl.As(42), 3, 1, 100)
	if errors.Is(err, errNoGold) {
		return
	}
	_ = gold
	// Inside a handler, call on behalf of the request's user:
	//	logic.Call[*pb.Req, *pb.Resp](c.Context(), c, 3, 1, req)
}

func ExampleCallAll() {
	var cl *logic.Client
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	// One reply from every live instance of the service serving 4-0.
	res, err := logic.CallAll[string, int64](ctx, cl, 4, 0, "online-count")
	if err != nil {
		return
	}
	var total int64
	for _, r := range res.Replies {
		if r.Err == nil {
			total += r.Value
		}
	}
	if res.Partial {
		// res.Missing did not answer within the second.
	}
	_ = total
}
