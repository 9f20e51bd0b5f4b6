package guild

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/broker/brokertest"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/store"
	"github.com/iogo-dev/iogo/pkg/store/redistest"
	guildpb "github.com/iogo-dev/iogo/proto/guild"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
)

// fasthttp (the gate's WebSocket server) keeps a process-wide clock and a
// worker-pool cleaner that notices Shutdown only after its idle period;
// kcp-go starts its scheduler when loaded. None belongs to a test.
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

// backend is a store backend the tests run on.
type backend struct {
	name string
	// open starts what the backend needs for the test and returns an
	// opener; b is the test's broker.
	open func(t testing.TB, b *broker.Broker) store.Opener
}

// backends are the store backends every main test runs on.
var backends = []backend{
	{"jetstream", func(t testing.TB, b *broker.Broker) store.Opener {
		nc := connect(t, b)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return store.NewJetStream(js)
	}},
	{"redis", func(t testing.TB, _ *broker.Broker) store.Opener {
		rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(t)})
		t.Cleanup(func() { _ = rdb.Close() })
		return store.NewRedis(rdb)
	}},
}

// forEachBackend runs f as a subtest per backend, each with a broker of its own.
func forEachBackend(t *testing.T, f func(t *testing.T, b *broker.Broker, st store.Opener)) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := brokertest.Start(t, broker.Config{})
			f(t, b, be.open(t, b))
		})
	}
}

func connect(t testing.TB, b *broker.Broker) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(b.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// recorder is a Notifier that records what it is asked to send.
type recorder struct {
	mu     sync.Mutex
	events []*guildpb.GuildEvent
	pushes []pushRec
}

type pushRec struct {
	to  []int64
	sub int32
	msg proto.Message
}

func (r *recorder) PushTo(_ context.Context, ids []int64, _, sub int32, msg proto.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pushes = append(r.pushes, pushRec{append([]int64(nil), ids...), sub, msg})
	return nil
}

func (r *recorder) Publish(_ context.Context, topic string, msg proto.Message) error {
	if topic != Topic {
		return fmt.Errorf("topic %q", topic)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, msg.(*guildpb.GuildEvent))
	return nil
}

// kinds returns the kinds of the recorded events about user.
func (r *recorder) kinds(user int64) []guildpb.GuildEventKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []guildpb.GuildEventKind
	for _, e := range r.events {
		if e.UserId == user {
			out = append(out, e.Kind)
		}
	}
	return out
}

// newGuilds opens a Guilds on st without an executor, recording
// notifications, with its index loaded.
func newGuilds(t testing.TB, st store.Opener, cfg Config) (*Guilds, *recorder) {
	t.Helper()
	ctx := ctxT(t)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	kv, err := st.Open(ctx, store.Bucket{Name: cfg.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	g, err := NewGuilds(cfg, kv, nil, rec, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	done, err := g.Watch(wctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-done })
	return g, rec
}

// instance is one running instance of the guild service.
type instance struct {
	m   *Module
	srv *logic.Server
}

// startInstance runs an instance of the guild service (a logic server with
// the module opened on st) on broker b until the test ends. extra routers'
// routes are served by the same server when given (a test login route).
func startInstance(t testing.TB, b *broker.Broker, st store.Opener, cfg Config) *instance {
	t.Helper()
	cfg.Logger = testLogger()
	m := New(cfg)
	srv, err := logic.New(logic.Config{Service: Service, Router: m.Router(), Brokers: []string{b.ClientURL()}, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	if err := m.Open(ctx, srv, st); err != nil {
		t.Fatal(err)
	}
	return &instance{m: m, srv: srv}
}

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

// must returns a function that fails the test on err and returns v:
// must(g.Join(ctx, u, gid))(t).
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
