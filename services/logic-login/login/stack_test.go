package login

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/broker/brokertest"
	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/external"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/store"
	"github.com/iogo-dev/iogo/pkg/svcmain/svctest"
	loginpb "github.com/iogo-dev/iogo/proto/login"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, svctest.LeakOptions()...) }

// testSecret signs the tokens of every test stack.
const testSecret = "test-secret-0123456789abcdef0123456789"

// fastArgon keeps password hashing cheap in tests; the benchmark measures
// the defaults.
var fastArgon = Argon2{Memory: 64, Time: 1, Threads: 1}

func testLogger() *slog.Logger {
	if os.Getenv("IOGO_TEST_LOG") == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// stack is a broker, login instances and a gate, all in this process; a
// client reaches the gate over TCP.
type stack struct {
	clock *svctest.Clock
	mods  []*Module
	srvs  []*logic.Server
	url   string
	st    store.Opener
}

// backend is a store backend the end-to-end tests run on.
type backend = svctest.Backend

// backends are the store backends of the end-to-end tests.
var backends = svctest.Backends()

// startStack starts n login instances configured by cfg (Secret, Argon2,
// Now and Logger filled in when unset).
func startStack(t testing.TB, be backend, cfg Config, n int, opts ...func(*logic.Config)) *stack {
	t.Helper()
	s := &stack{clock: svctest.NewClock()}
	if cfg.Secret == "" {
		cfg.Secret = testSecret
	}
	if cfg.Argon2 == (Argon2{}) {
		cfg.Argon2 = fastArgon
	}
	if cfg.Now == nil {
		cfg.Now = s.clock.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	b := brokertest.Start(t, broker.Config{})
	s.st = be.Open(t, b)
	for i := range n {
		m := New(cfg)
		lc := logic.Config{Service: Service, InstanceID: fmt.Sprintf("login-%d", i), Logger: cfg.Logger, DisableStats: true}
		for _, o := range opts {
			o(&lc)
		}
		s.mods, s.srvs = append(s.mods, m), append(s.srvs, svctest.Module(t, b, lc, m, s.st))
	}
	gate := svctest.Gate(t, b, func(c *external.Config) { c.Logger = cfg.Logger })
	s.url = "tcp://" + gate.TCPAddr().String()
	return s
}

// dial connects a client, closed at the end of the test.
func (s *stack) dial(t testing.TB) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, s.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// call sends req on route (Cmd, sub) and decodes the answer.
func call[Req, Resp any](t testing.TB, c *client.Client, sub int32, req Req) (Resp, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return client.Call[Req, Resp](ctx, c, Cmd, sub, req)
}

// mustCall is call that fails the test on an error.
func mustCall[Req, Resp any](t testing.TB, c *client.Client, sub int32, req Req) Resp {
	t.Helper()
	resp, err := call[Req, Resp](t, c, sub, req)
	if err != nil {
		t.Fatalf("route %d-%d: %v", Cmd, sub, err)
	}
	return resp
}

// wantErr fails the test unless err carries want's code.
func wantErr(t testing.TB, err error, want *errs.Error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want code %d (%s)", err, want.Code, want.Msg)
	}
}

// waitKicked waits until the server closed c, and returns the notice it
// announced the end with.
func waitKicked(t testing.TB, c *client.Client) *errs.Error {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("connection still open")
	}
	e, ok := errors.AsType[*errs.Error](c.Err())
	if !ok {
		t.Fatalf("closed without a notice: %v", c.Err())
	}
	return e
}

// mustUser and mustTokens fail the test on an error: mustUser(t)(f()).
func mustUser(t testing.TB) func(*loginpb.User, error) *loginpb.User {
	return func(u *loginpb.User, err error) *loginpb.User {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
}

func mustTokens(t testing.TB) func(*loginpb.Tokens, error) *loginpb.Tokens {
	return func(v *loginpb.Tokens, err error) *loginpb.Tokens {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
