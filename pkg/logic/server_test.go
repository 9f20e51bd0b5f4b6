package logic_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/broker/brokertest"
	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
	"github.com/iogo-dev/iogo/pkg/stats"
	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startNATS runs an embedded broker (NATS with JetStream and the framework
// buckets) on a random loopback port for one test.
func startNATS(t *testing.T) *broker.Broker {
	t.Helper()
	return startBrokerCfg(t, broker.Config{Host: "127.0.0.1", Port: -1})
}

func startBrokerCfg(t *testing.T, cfg broker.Config) *broker.Broker {
	t.Helper()
	return brokertest.Start(t, cfg)
}

func connect(t *testing.T, ns *broker.Broker) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func startLogic(t *testing.T, ns *broker.Broker, r *route.Router, mut ...func(*logic.Config)) *logic.Server {
	t.Helper()
	cfg := logic.Config{Service: "test", Router: r}
	if ns != nil {
		cfg.Brokers = []string{ns.ClientURL()}
	}
	for _, m := range mut {
		m(&cfg)
	}
	srv, err := logic.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return srv
}

// gate plays an external server: it sends requests the way a gate does and
// collects replies on one inbox subscription.
type gate struct {
	t       *testing.T
	nc      *nats.Conn
	replies chan *nats.Msg
}

func newGate(t *testing.T, ns *broker.Broker) *gate {
	g := &gate{t: t, nc: connect(t, ns), replies: make(chan *nats.Msg, 4096)}
	sub, err := g.nc.ChanSubscribe(fabric.GateInbox("g1"), g.replies)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return g
}

func (g *gate) send(token uint64, m fabric.Meta, data []byte) {
	g.t.Helper()
	m.Gate = "g1"
	err := g.nc.PublishMsg(&nats.Msg{
		Subject: fabric.Request(m.Cmd, m.Sub), Reply: fabric.GateReply("g1", token),
		Header: m.Header(), Data: data,
	})
	if err != nil {
		g.t.Fatal(err)
	}
}

func (g *gate) next() (uint64, fabric.Reply, []byte) {
	g.t.Helper()
	select {
	case msg := <-g.replies:
		if fabric.IsNoResponders(msg) {
			return 0, fabric.Reply{Status: errs.CodeRouteNotFound}, nil
		}
		tok, ok := fabric.ReplyToken(msg.Subject)
		if !ok {
			g.t.Fatalf("bad reply subject %q", msg.Subject)
		}
		r, err := fabric.ParseReply(msg.Header)
		if err != nil {
			g.t.Fatal(err)
		}
		return tok, r, msg.Data
	case <-time.After(10 * time.Second):
		g.t.Fatal("no reply within 10s")
	}
	return 0, fabric.Reply{}, nil
}

func int64Payload(t *testing.T, v int64) []byte {
	val, _ := wire.ValueOf[int64]()
	b, err := val.Append(nil, wire.Protobuf{}, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPerUserOrder: one user's 1,000 back-to-back requests, spread over two
// routes, run in send order; meanwhile a second user is served while a slow
// handler of the first user is still running.
func TestPerUserOrder(t *testing.T) {
	ns := startNATS(t)
	var mu sync.Mutex
	var seen []int64
	release := make(chan struct{})
	slowStarted := make(chan struct{})
	record := func(c *logic.Ctx, n int64) (int64, error) {
		mu.Lock()
		seen = append(seen, n)
		mu.Unlock()
		return n, nil
	}
	r := route.NewRouter()
	g := r.Group(1)
	route.Handle(g, 0, record)
	route.Handle(g, 1, record)
	route.Handle(g, 2, func(c *logic.Ctx, n int64) (int64, error) {
		close(slowStarted)
		<-release
		return n, nil
	})
	startLogic(t, ns, r)
	gw := newGate(t, ns)

	const n = 1000
	for i := range n {
		gw.send(uint64(i+1), fabric.Meta{Cmd: 1, Sub: int32(i % 2), UserID: 7, MsgID: int32(i)}, int64Payload(t, int64(i)))
	}
	for range n {
		if _, r, _ := gw.next(); r.Status != 0 {
			t.Fatalf("status %d %s", r.Status, r.Error)
		}
	}
	mu.Lock()
	for i, v := range seen {
		if v != int64(i) {
			mu.Unlock()
			t.Fatalf("request %d ran at position %d: order %v...", v, i, seen[:min(len(seen), i+3)])
		}
	}
	if len(seen) != n {
		t.Fatalf("%d requests ran, want %d", len(seen), n)
	}
	mu.Unlock()

	// User 7 blocks in the slow handler; user 8 must still be served, and
	// user 7's next request must wait behind the slow one.
	gw.send(5000, fabric.Meta{Cmd: 1, Sub: 2, UserID: 7}, nil)
	<-slowStarted
	gw.send(5001, fabric.Meta{Cmd: 1, Sub: 0, UserID: 7}, int64Payload(t, -1))
	gw.send(5002, fabric.Meta{Cmd: 1, Sub: 0, UserID: 8}, int64Payload(t, -2))
	if tok, _, _ := gw.next(); tok != 5002 {
		t.Fatalf("first reply is %d, want user 8's (5002) while user 7 is blocked", tok)
	}
	close(release)
	for _, want := range []uint64{5000, 5001} {
		if tok, _, _ := gw.next(); tok != want {
			t.Fatalf("reply %d, want %d", tok, want)
		}
	}
}

func TestReplies(t *testing.T) {
	ns := startNATS(t)
	r := route.NewRouter()
	g := r.Group(3)
	route.Handle(g, 0, func(c *logic.Ctx, name string) (string, error) {
		if err := c.Bind(100); err != nil {
			return "", err
		}
		return "hi " + name + " " + strconv.FormatInt(c.UserID(), 10), nil
	})
	route.HandleVoid(g, 1, func(c *logic.Ctx, _ string) error { return nil })
	route.Handle(g, 2, func(c *logic.Ctx, _ string) (string, error) { return "", errs.New(5, "nope") })
	startLogic(t, ns, r)
	gw := newGate(t, ns)
	controls := fakeControl(t, ns, fabric.GateControl("g1"), okReply)
	str, _ := wire.ValueOf[string]()
	in, _ := str.Append(nil, wire.Protobuf{}, "bob")

	tests := []struct {
		name  string
		sub   int32
		want  fabric.Reply
		wantS string
	}{
		{"bind", 0, fabric.Reply{}, "hi bob 100"},
		{"void", 1, fabric.Reply{Void: true}, ""},
		{"error", 2, fabric.Reply{Status: 5, Error: "nope"}, ""},
		{"no such route", 9, fabric.Reply{Status: errs.CodeRouteNotFound}, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw.send(uint64(i+1), fabric.Meta{Cmd: 3, Sub: tt.sub, Session: 5}, in)
			_, got, data := gw.next()
			got.Instance = "" // checked by the call tests
			if got != tt.want {
				t.Fatalf("reply %+v, want %+v", got, tt.want)
			}
			if tt.wantS != "" {
				if s, _ := str.Unmarshal(data, wire.Protobuf{}); s != tt.wantS {
					t.Fatalf("data %q, want %q", s, tt.wantS)
				}
			}
		})
	}
	// The bind went to the gate, synchronously, before the reply.
	select {
	case ctl := <-controls:
		want := fabric.Control{Op: fabric.OpBind, Session: 5, User: 100}
		if !reflect.DeepEqual(ctl, want) {
			t.Fatalf("control %+v, want %+v", ctl, want)
		}
	default:
		t.Fatal("Bind sent no control request")
	}
	if len(controls) != 0 {
		t.Fatalf("%d more control requests", len(controls))
	}
}

func TestBusy(t *testing.T) {
	ns := startNATS(t)
	started := make(chan struct{}, 4)
	release := make(chan struct{})
	r := route.NewRouter()
	route.Handle(r.Group(1), 0, func(c *logic.Ctx, _ int64) (int64, error) {
		started <- struct{}{}
		<-release
		return 0, nil
	})
	srv := startLogic(t, ns, r, func(c *logic.Config) { c.MaxPending = 2 })
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // runs before the server's shutdown
	gw := newGate(t, ns)
	// One runs, two wait, the fourth is rejected at once.
	gw.send(1, fabric.Meta{Cmd: 1, UserID: 1}, nil)
	<-started
	for i := 2; i <= 4; i++ {
		gw.send(uint64(i), fabric.Meta{Cmd: 1, UserID: 1}, nil)
	}
	tok, rep, _ := gw.next()
	if tok != 4 || rep.Status != errs.CodeSystem || rep.Error != "server busy" {
		t.Fatalf("got %d %+v, want token 4 busy", tok, rep)
	}
	unblock()
	for range 3 {
		if _, rep, _ := gw.next(); rep.Status != 0 {
			t.Fatalf("status %d", rep.Status)
		}
	}
	if shed := srv.Stats().Routes[0].Shed; shed["busy"] != 1 || len(shed) != 1 {
		t.Fatalf("shed counts %v, want busy 1", shed)
	}
}

func TestShutdownFinishesInFlight(t *testing.T) {
	ns := startNATS(t)
	started := make(chan struct{}, 10)
	release := make(chan struct{})
	r := route.NewRouter()
	route.Handle(r.Group(1), 0, func(c *logic.Ctx, n int64) (int64, error) {
		if c.UserID() == 1 {
			started <- struct{}{}
			<-release
		}
		return n, nil
	})
	srv, err := logic.New(logic.Config{Service: "test", Router: r, Brokers: []string{ns.ClientURL()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	gw := newGate(t, ns)
	gw.send(1, fabric.Meta{Cmd: 1, UserID: 1}, nil)
	<-started
	done := make(chan error)
	go func() { done <- srv.Shutdown(context.Background()) }()
	// After shutdown began, new requests find no responder.
	deadline := time.Now().Add(5 * time.Second)
	for {
		gw.send(2, fabric.Meta{Cmd: 1, UserID: 2}, nil)
		_, rep, _ := gw.next()
		if rep.Status == errs.CodeRouteNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still served after shutdown began: %+v", rep)
		}
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, rep, _ := gw.next(); rep.Status != 0 {
		t.Fatalf("in-flight request got %+v", rep)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal("second Shutdown:", err)
	}
	var nilSrv *logic.Server
	if err := nilSrv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidate(t *testing.T) {
	r := route.NewRouter()
	route.Handle(r.Group(1), 0, func(*logic.Ctx, int32) (int32, error) { return 0, nil })
	tests := []struct {
		name string
		cfg  logic.Config
		ok   bool
	}{
		{"ok", logic.Config{Service: "a", Router: r}, true},
		{"no service", logic.Config{Router: r}, false},
		{"bad service", logic.Config{Service: "a.b", Router: r}, false},
		{"no router", logic.Config{Service: "a"}, false},
		{"bad instance", logic.Config{Service: "a", Router: r, InstanceID: "x y"}, false},
		{"no routes", logic.Config{Service: "a", Router: route.NewRouter()}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := logic.New(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func Example() {
	r := route.NewRouter()
	user := r.Group(1)
	route.Handle(user, 0, func(c *logic.Ctx, name string) (string, error) {
		return fmt.Sprintf("hello, %s", name), nil
	})
	srv, err := logic.New(logic.Config{Service: "hello", Router: r})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(srv.Service(), len(srv.Routes()))
	// Output: hello 1
}

// TestSharedRouteWarned: a service that starts on a route a live instance
// of another service serves is warned about it, naming both.
func TestSharedRouteWarned(t *testing.T) {
	ns := startNATS(t)
	router := func() *route.Router {
		r := route.NewRouter()
		route.Handle(r.Group(7), 1, func(*logic.Ctx, int32) (int32, error) { return 0, nil })
		return r
	}
	startLogic(t, ns, router(), func(c *logic.Config) { c.Service = "owner" })
	var logs syncBuffer
	startLogic(t, ns, router(), func(c *logic.Config) {
		c.Service = "intruder"
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	out := logs.String()
	if !strings.Contains(out, "route also served by another service") || !strings.Contains(out, "route=7-1") ||
		!strings.Contains(out, "other_service=owner") {
		t.Fatalf("no warning about the shared route:\n%s", out)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestInit(t *testing.T) {
	ns := startNATS(t)
	router := func() *route.Router {
		r := route.NewRouter()
		route.Handle(r.Group(7), 2, func(*logic.Ctx, int32) (int32, error) { return 0, nil })
		return r
	}
	t.Run("runs before routes are served", func(t *testing.T) {
		var sawConn, sawClient, routesYet bool
		srv := startLogic(t, ns, router(), func(c *logic.Config) {
			c.Init = func(ctx context.Context, srv *logic.Server) error {
				sawConn, sawClient = srv.Conn() != nil && srv.Conn().IsConnected(), srv.Client() != nil
				rs, err := srv.Client().Registry().Routes(ctx)
				for _, r := range rs {
					routesYet = routesYet || r.Cmd == 7 && r.Sub == 2
				}
				return err
			}
		})
		if !sawConn || !sawClient || routesYet {
			t.Fatalf("Init saw conn %v, client %v, route published %v", sawConn, sawClient, routesYet)
		}
		if srv.Conn() == nil {
			t.Fatal("no Conn after Start")
		}
	})
	t.Run("error aborts Start", func(t *testing.T) {
		boom := errors.New("boom")
		srv, err := logic.New(logic.Config{Service: "initfail", Router: router(), Brokers: []string{ns.ClientURL()},
			Init: func(context.Context, *logic.Server) error { return boom }})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(context.Background()); !errors.Is(err, boom) {
			t.Fatalf("Start: %v, want %v", err, boom)
		}
	})
}

// TestExpired: a request whose caller stopped waiting while it queued is
// answered ErrExpired and its handler does not run; one without a timeout
// waits as long as it takes.
func TestExpired(t *testing.T) {
	ns := startNATS(t)
	started := make(chan int64, 4)
	release := make(chan struct{})
	r := route.NewRouter()
	route.Handle(r.Group(1), 0, func(c *logic.Ctx, n int64) (int64, error) {
		started <- n
		<-release
		return n, nil
	})
	srv := startLogic(t, ns, r)
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	gw := newGate(t, ns)
	gw.send(1, fabric.Meta{Cmd: 1, UserID: 1}, int64Payload(t, 1))
	<-started
	gw.send(2, fabric.Meta{Cmd: 1, UserID: 1, Timeout: time.Millisecond}, int64Payload(t, 2))
	gw.send(3, fabric.Meta{Cmd: 1, UserID: 1}, int64Payload(t, 3))
	// Both wait behind the first; the second's millisecond then passes.
	deadline := time.Now().Add(10 * time.Second)
	for srv.Stats().Queued < 2 {
		if time.Now().After(deadline) {
			t.Fatal("requests not queued")
		}
		runtime.Gosched()
	}
	for queued := time.Now(); time.Since(queued) < 5*time.Millisecond; {
		runtime.Gosched() // let the 1 ms timeout pass; the request is already queued
	}
	unblock()
	got := map[uint64]fabric.Reply{}
	for range 3 {
		tok, rep, _ := gw.next()
		got[tok] = rep
	}
	if got[1].Status != 0 || got[3].Status != 0 {
		t.Fatalf("replies %+v, want 1 and 3 served", got)
	}
	if rep := got[2]; rep.Status != errs.CodeSystem || rep.Error != logic.ErrExpired.Msg {
		t.Fatalf("reply 2 %+v, want %v", rep, logic.ErrExpired)
	}
	if n := <-started; n != 3 {
		t.Fatalf("handler ran for %d after the first, want 3 (2 expired)", n)
	}
	if shed := srv.Stats().Routes[0].Shed; shed["expired"] != 1 || len(shed) != 1 {
		t.Fatalf("shed counts %v, want expired 1", shed)
	}
}

// TestStatsConfig: Config.Stats reaches the server's stats: kept errors and
// slowest requests follow it.
func TestStatsConfig(t *testing.T) {
	ns := startNATS(t)
	tests := []struct {
		name          string
		stats         stats.Config
		errs, slowest int
	}{
		{"defaults", stats.Config{}, 1, 2},
		{"none kept", stats.Config{RecentErrors: -1, Slowest: -1}, 0, 0},
		{"only slow ones", stats.Config{SlowMin: time.Hour}, 1, 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := route.NewRouter()
			route.Handle(r.Group(int32(40+i)), 0, func(_ *logic.Ctx, n int64) (int64, error) {
				if n < 0 {
					return 0, errs.New(7, "negative")
				}
				return n, nil
			})
			srv := startLogic(t, ns, r, func(c *logic.Config) { c.Service, c.Stats = fmt.Sprintf("stats%d", i), tt.stats })
			gw := newGate(t, ns)
			gw.send(1, fabric.Meta{Cmd: int32(40 + i), UserID: 1}, int64Payload(t, 1))
			gw.send(2, fabric.Meta{Cmd: int32(40 + i), UserID: 1}, int64Payload(t, -1))
			gw.next()
			gw.next()
			snap := srv.Stats()
			if len(snap.RecentErrors) != tt.errs || len(snap.Slowest) != tt.slowest {
				t.Fatalf("%d recent errors, %d slowest; want %d, %d", len(snap.RecentErrors), len(snap.Slowest), tt.errs, tt.slowest)
			}
		})
	}
}

// TestRemoteTraceID: a failed request that this server does not trace
// still shows, among the recent errors, the trace ID its caller sent.
func TestRemoteTraceID(t *testing.T) {
	ns := startNATS(t)
	r := route.NewRouter()
	route.Handle(r.Group(45), 0, func(_ *logic.Ctx, _ int64) (int64, error) { return 0, errs.New(9, "no") })
	srv := startLogic(t, ns, r, func(c *logic.Config) { c.Service = "untraced" })
	gw := newGate(t, ns)
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	m := fabric.Meta{Cmd: 45, UserID: 1, Gate: "g1"}
	h := m.Header()
	h.Set(fabric.HeaderTraceParent, "00-"+id+"-00f067aa0ba902b7-01")
	if err := gw.nc.PublishMsg(&nats.Msg{Subject: fabric.Request(45, 0), Reply: fabric.GateReply("g1", 1), Header: h,
		Data: int64Payload(t, 1)}); err != nil {
		t.Fatal(err)
	}
	if _, rep, _ := gw.next(); rep.Status != 9 {
		t.Fatalf("status %d", rep.Status)
	}
	errsKept := srv.Stats().RecentErrors
	if len(errsKept) != 1 || errsKept[0].TraceID != id {
		t.Fatalf("recent errors %+v, want trace %s", errsKept, id)
	}
}
