package login

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/broker/brokertest"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/svcmain/svctest"
	loginpb "github.com/iogo-dev/iogo/proto/login"
)

// The tests in this file call the handlers directly, with a Ctx made by
// logic.NewCtx, so that each request can come from a client IP of its
// own (through a gate on loopback, every client is 127.0.0.1).

// openDirect opens a module on a JetStream store with no logic server.
func openDirect(t *testing.T, cfg Config) (*Module, *svctest.Clock) {
	t.Helper()
	clock := svctest.NewClock()
	cfg.Secret, cfg.Argon2, cfg.Now, cfg.Logger = testSecret, fastArgon, clock.Now, testLogger()
	b := brokertest.Start(t, broker.Config{})
	m := New(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Open(ctx, nil, svctest.JetStream(t, b)); err != nil {
		t.Fatal(err)
	}
	return m, clock
}

// from returns a Ctx for a request of client IP ip.
func from(ip string) *logic.Ctx {
	return logic.NewCtx(context.Background(), fabric.Meta{Attrs: url.Values{fabric.AttrIP: {ip}}.Encode()}, nil)
}

func (m *Module) registerFrom(ip, name string) error {
	_, err := m.register(from(ip), &loginpb.Register{Username: name, Password: "a password"})
	return err
}

func (m *Module) loginFrom(ip, name, password string) error {
	_, err := m.passwordLogin(from(ip), &loginpb.PasswordLogin{Username: name, Password: password})
	return err
}

// TestSignupLimits: Register creates at most SignupIP accounts per IP and
// SignupGlobal in all per window; refusals and failed sign-ups create
// nothing and use up nothing.
func TestSignupLimits(t *testing.T) {
	m, clock := openDirect(t, Config{SignupIP: 2, SignupGlobal: 3, SignupWindow: time.Hour, SignupGlobalWindow: time.Minute})
	steps := []struct {
		ip, name string
		want     error
	}{
		{"10.0.0.1", "ann", nil},
		{"10.0.0.1", "ann", ErrUsernameTaken}, // no account: counts nothing
		{"10.0.0.1", "bob", nil},
		{"10.0.0.1", "cid", ErrSignupLimited}, // the IP's 2
		{"10.0.0.2", "cid", nil},
		{"10.0.0.3", "dan", ErrSignupLimited}, // everyone's 3
	}
	for i, s := range steps {
		if err := m.registerFrom(s.ip, s.name); !errors.Is(err, s.want) && (err != nil || s.want != nil) {
			t.Fatalf("step %d: register %s from %s: %v, want %v", i, s.name, s.ip, err, s.want)
		}
	}
	err := m.registerFrom("10.0.0.3", "dan")
	if d, ok := RetryAfter(err); !ok || d <= 0 || d > time.Minute {
		t.Fatalf("retry after %v %v (%v)", d, ok, err)
	}
	if st := m.Stats(); st.SignupLimited != 3 {
		t.Fatalf("stats %+v, want 3 sign-ups limited", st)
	}
	// The next global window lets others in; the IP stays limited for
	// its hour.
	clock.Advance(time.Minute)
	if err := m.registerFrom("10.0.0.3", "dan"); err != nil {
		t.Fatal(err)
	}
	if err := m.registerFrom("10.0.0.1", "eve"); !errors.Is(err, ErrSignupLimited) {
		t.Fatalf("IP over its limit in the next minute: %v", err)
	}
}

// TestGuestLimits: new guests are limited only when configured, returning
// guests never.
func TestGuestLimits(t *testing.T) {
	guest := func(m *Module, ip, dev string) error {
		_, err := m.guestLogin(from(ip), &loginpb.GuestLogin{DeviceId: dev})
		return err
	}
	t.Run("off by default", func(t *testing.T) {
		m, _ := openDirect(t, Config{})
		for i := range 30 {
			if err := guest(m, "10.0.0.1", fmt.Sprint("dev-", i)); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("configured", func(t *testing.T) {
		m, _ := openDirect(t, Config{GuestIP: 2, GuestGlobal: 3})
		for _, s := range []struct {
			ip, dev string
			want    error
		}{
			{"10.0.0.1", "d1", nil}, {"10.0.0.1", "d2", nil}, {"10.0.0.1", "d3", ErrSignupLimited},
			{"10.0.0.1", "d1", nil}, // returning
			{"10.0.0.2", "d3", nil}, {"10.0.0.3", "d4", ErrSignupLimited},
		} {
			if err := guest(m, s.ip, s.dev); !errors.Is(err, s.want) && (err != nil || s.want != nil) {
				t.Fatalf("guest %s from %s: %v, want %v", s.dev, s.ip, err, s.want)
			}
		}
		if st := m.Stats(); st.GuestLimited != 2 || st.SignupLimited != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// TestNoLockout: wrong passwords from one address lock that address out
// of the account, not the owner at another; once the account is under
// attack, failures are answered late and right passwords at once.
func TestNoLockout(t *testing.T) {
	m, clock := openDirect(t, Config{RateIP: -1, RateAccount: 3, SlowAccount: 4, SlowDelay: 50 * time.Millisecond})
	if err := m.registerFrom("10.0.0.9", "owner"); err != nil {
		t.Fatal(err)
	}
	const attacker, other, home = "10.6.6.6", "10.7.7.7", "10.0.0.9"
	for i := range 3 {
		if err := m.loginFrom(attacker, "owner", fmt.Sprint("guess ", i)); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if err := m.loginFrom(attacker, "owner", "a password"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("attacker's 4th try, right password: %v, want limited", err)
	}
	if err := m.loginFrom(home, "owner", "a password"); err != nil {
		t.Fatalf("owner after the attacker's guesses: %v", err)
	}
	// A second address's guesses take the account over SlowAccount: its
	// failures are slowed down (counted), the owner still gets in.
	for i := range 2 {
		if err := m.loginFrom(other, "owner", fmt.Sprint("guess ", i)); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("other guess %d: %v", i, err)
		}
	}
	if st := m.Stats(); st.Slowed != 1 || st.LoginLimited != 1 {
		t.Fatalf("stats %+v, want 1 slowed, 1 limited", st)
	}
	if err := m.loginFrom(home, "owner", "a password"); err != nil {
		t.Fatalf("owner while under attack: %v", err)
	}
	if st := m.Stats(); st.Slowed != 1 {
		t.Fatalf("a right password was slowed: %+v", st)
	}
	// The owner's own typos count against the owner's address only.
	for i := range 3 {
		if err := m.loginFrom(home, "owner", fmt.Sprint("typo ", i)); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("typo %d: %v", i, err)
		}
	}
	if err := m.loginFrom(home, "owner", "a password"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("owner after 3 typos: %v, want limited", err)
	}
	clock.Advance(time.Minute)
	if err := m.loginFrom(attacker, "owner", "a password"); err != nil {
		t.Fatalf("next window: %v", err)
	}
}
