// Package svctest starts, inside a test, what a logic service's tests
// need: logic servers and modules on a real embedded broker, a gate that
// real clients dial, the store backends (JetStream and a real
// redis-server), and a stand-in login route for services that need a
// logged-in player. Everything stops when the test ends.
//
//	b := brokertest.Start(t, broker.Config{})
//	for _, be := range svctest.Backends() {
//		t.Run(be.Name, func(t *testing.T) {
//			svctest.Logic(t, b, logic.Config{Service: "login", Router: svctest.LoginRouter()})
//			svctest.Module(t, b, logic.Config{Service: "rank"}, rank.New(cfg), be.Open(t, b))
//			c := svctest.Player(t, svctest.Gate(t, b), 42)
//			...
//		})
//	}
package svctest

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/external"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
	"github.com/iogo-dev/iogo/pkg/store"
	"github.com/iogo-dev/iogo/pkg/store/redistest"
)

// timeout bounds each start and each shutdown.
const timeout = 30 * time.Second

// LeakOptions are the goleak options for a package that starts gates:
// fasthttp (the WebSocket server) and kcp-go keep goroutines of their own
// for the life of the process, which belong to no test.
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(m, svctest.LeakOptions()...) }
func LeakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).sched"),
		goleak.IgnoreAnyFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).prepend"),
	}
}

// Logic starts a logic server with cfg on broker b (over TCP unless
// cfg.Conn is set) and shuts it down when the test ends.
func Logic(t testing.TB, b *broker.Broker, cfg logic.Config) *logic.Server {
	t.Helper()
	if cfg.Conn == nil && len(cfg.Brokers) == 0 {
		cfg.Brokers = []string{b.ClientURL()}
	}
	srv, err := logic.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return srv
}

// Module starts module m as a logic server with cfg (Router and Init are
// set from m), opened on st before its first request, and closes it after
// the server stopped, as svcmain.RunLogic does.
func Module(t testing.TB, b *broker.Broker, cfg logic.Config, m logic.Module, st store.Opener) *logic.Server {
	t.Helper()
	cfg.Router = m.Router()
	cfg.Init = func(ctx context.Context, srv *logic.Server) error { return m.Open(ctx, srv, st) }
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	return Logic(t, b, cfg) // its cleanup, the shutdown, runs before Close
}

// Gate starts an external server on broker b with TCP on a random
// loopback port, no rate limit and a discarding logger unless edit says
// otherwise, and shuts it down when the test ends. Start it after the
// services its clients call: a gate knows the routes served when it
// starts, and learns of later ones only within moments.
func Gate(t testing.TB, b *broker.Broker, edit ...func(*external.Config)) *external.Server {
	t.Helper()
	cfg := external.Config{TCPAddr: "127.0.0.1:0", Brokers: []string{b.ClientURL()}, RateLimit: -1,
		Logger: slog.New(slog.DiscardHandler)}
	for _, e := range edit {
		e(&cfg)
	}
	g, err := external.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := g.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return g
}

// Dial connects a client with opts to gate g over TCP; it is closed when
// the test ends.
func Dial(t testing.TB, g *external.Server, opts ...client.Option) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := client.Dial(ctx, "tcp://"+g.TCPAddr().String(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// LoginCmd and LoginSub are the route of LoginRouter.
const (
	LoginCmd int32 = 1
	LoginSub int32 = 0
)

// LoginRouter is a stand-in login service for tests of other services:
// route 1-0 (public) binds the session to the int64 it gets and returns it.
// Serve it under the service name "login".
func LoginRouter() *route.Router {
	r := route.NewRouter()
	route.Handle(r.Group(LoginCmd), LoginSub, func(c *logic.Ctx, id int64) (int64, error) { return id, c.Bind(id) }, route.Public())
	return r
}

// Player dials gate g (with opts) and logs in as userID through
// LoginRouter's route.
func Player(t testing.TB, g *external.Server, userID int64, opts ...client.Option) *client.Client {
	t.Helper()
	c := Dial(t, g, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if _, err := client.Call[int64, int64](ctx, c, LoginCmd, LoginSub, userID); err != nil {
		t.Fatalf("login as %d: %v", userID, err)
	}
	return c
}

// EventuallyWithin is how long Eventually polls.
const EventuallyWithin = 10 * time.Second

// Eventually polls fn until it returns nil, and fails the test with what
// and fn's last error if that takes longer than EventuallyWithin: for
// state that other instances learn of through the store's watch.
func Eventually(t testing.TB, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(EventuallyWithin)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(2 * time.Millisecond) // polling pace
	}
}

// Clock is a settable time for tests, safe for concurrent use: give its
// Now to the configurations of a test's instances and move it with
// Advance. It starts at the wall-clock time of NewClock.
type Clock struct{ ns atomic.Int64 }

// NewClock returns a Clock set to now.
func NewClock() *Clock {
	c := &Clock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// Backend is a store backend that module tests run on.
type Backend struct {
	// Name is "jetstream" or "redis", for subtest names.
	Name string
	// Open returns the backend's Opener for a test on broker b: b's
	// JetStream, or a redis-server of the test's own.
	Open func(t testing.TB, b *broker.Broker) store.Opener
}

// Backends returns both store backends: run a module's tests over each.
// The Redis one starts a real redis-server (package redistest installs it
// when missing; it never skips).
func Backends() []Backend {
	return []Backend{{"jetstream", JetStream}, {"redis", Redis}}
}

// JetStream returns an Opener on broker b's JetStream.
func JetStream(t testing.TB, b *broker.Broker) store.Opener {
	t.Helper()
	nc, err := b.InProcessConn()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return store.NewJetStream(js)
}

// Redis returns an Opener on a redis-server started for the test.
func Redis(t testing.TB, _ *broker.Broker) store.Opener {
	t.Helper()
	rdb, err := store.RedisFromURL("redis://" + redistest.Start(t) + "/0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return store.NewRedis(rdb)
}
