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
	"github.com/iogo-dev/iogo/pkg/svcmain/svctest"
	guildpb "github.com/iogo-dev/iogo/proto/guild"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, svctest.LeakOptions()...) }

// testLogger discards logs unless IOGO_TEST_LOG=1.
func testLogger() *slog.Logger {
	if os.Getenv("IOGO_TEST_LOG") == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// forEachBackend runs f as a subtest per store backend, each with a
// broker of its own.
func forEachBackend(t *testing.T, f func(t *testing.T, b *broker.Broker, st store.Opener)) {
	for _, be := range svctest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			b := brokertest.Start(t, broker.Config{})
			f(t, b, be.Open(t, b))
		})
	}
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
// the module opened on st) on broker b until the test ends.
func startInstance(t testing.TB, b *broker.Broker, st store.Opener, cfg Config) *instance {
	t.Helper()
	cfg.Logger = testLogger()
	m := New(cfg)
	srv := svctest.Module(t, b, logic.Config{Service: Service, Logger: testLogger()}, m, st)
	return &instance{m: m, srv: srv}
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
