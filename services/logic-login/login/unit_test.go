package login

import (
	"context"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/errs"
	loginpb "github.com/iogo-dev/iogo/proto/login"
)

func TestTokenSignVerify(t *testing.T) {
	old := &signer{secrets: [][]byte{[]byte("old-secret-0123456789abcdef012345")}}
	s := &signer{secrets: [][]byte{[]byte("new-secret-0123456789abcdef012345"), old.secrets[0]}}
	now := time.Unix(1700000000, 123456789)
	c := claims{Kind: kindRefresh, User: 1 << 50, Family: newFamily(), Gen: 7, Epoch: 3, Issued: now, Expires: now.Add(time.Hour)}
	tok := s.Sign(c)
	flip := []byte(tok)
	flip[len(flip)-2] ^= 1
	payload := []byte(tok)
	payload[5] ^= 1
	tests := []struct {
		name string
		s    *signer
		tok  string
		kind byte
		ok   bool
	}{
		{"valid", s, tok, kindRefresh, true},
		{"signed with the old secret", s, old.Sign(c), kindRefresh, true},
		{"other kind", s, tok, kindSession, false},
		{"unknown secret", old, tok, kindRefresh, false},
		{"tampered signature", s, string(flip), kindRefresh, false},
		{"tampered payload", s, string(payload), kindRefresh, false},
		{"no dot", s, strings.ReplaceAll(tok, ".", ""), kindRefresh, false},
		{"too long", s, tok + strings.Repeat("A", maxToken), kindRefresh, false},
		{"empty", s, "", kindRefresh, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.s.Verify(tt.tok, tt.kind)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if tt.ok && (got.User != c.User || got.Family != c.Family || got.Gen != c.Gen || got.Epoch != c.Epoch ||
				!got.Issued.Equal(c.Issued) || got.Expires.UnixMilli() != c.Expires.UnixMilli()) {
				t.Fatalf("claims %+v, want %+v", got, c)
			}
		})
	}
}

func TestPasswordHash(t *testing.T) {
	ctx := context.Background()
	h := newHasher(fastArgon, slots(2))
	enc, err := h.Hash(ctx, hashSignup, "", "pass word")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q", enc)
	}
	other := newHasher(Argon2{Memory: 128, Time: 1, Threads: 1}, slots(1))
	tests := []struct {
		name      string
		h         *hasher
		pw, enc   string
		ok, stale bool
		err       bool
	}{
		{"right", h, "pass word", enc, true, false, false},
		{"wrong", h, "pass words", enc, false, false, false},
		{"right, other parameters", other, "pass word", enc, true, true, false},
		{"no hash (unknown user)", h, "pass word", "", false, false, false},
		{"malformed", h, "pass word", "$argon2id$v=19$m=64$x$y", false, false, true},
		{"other algorithm", h, "pass word", strings.Replace(enc, "argon2id", "argon2i", 1), false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, stale, err := tt.h.Check(ctx, "", tt.pw, tt.enc)
			if (err != nil) != tt.err || ok != tt.ok || (err == nil && tt.enc != "" && stale != tt.stale) {
				t.Fatalf("ok %v stale %v err %v", ok, stale, err)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want time.Duration
		ok   bool
	}{
		{"limited", rateLimited(1500 * time.Millisecond), 2 * time.Second, true},
		{"after a round trip", errs.New(ErrRateLimited.Code, rateLimited(30*time.Second).Msg), 30 * time.Second, true},
		{"other error", ErrBadCredentials, 0, false},
		{"nil", nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := RetryAfter(tt.err)
			if d != tt.want || ok != tt.ok {
				t.Fatalf("got %v %v", d, ok)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"short secret", Config{Secret: "short"}, false},
		{"two secrets", Config{Secret: testSecret + "," + testSecret + "x"}, true},
		{"refresh shorter than token", Config{TokenTTL: time.Hour, RefreshTTL: time.Minute}, false},
		{"bad provider name", Config{Verifiers: map[string]Verifier{"Bad.Name": testVerifier}}, false},
		{"nil verifier", Config{Verifiers: map[string]Verifier{"x": nil}}, false},
		{"strict refresh reuse", Config{RefreshReuseGrace: -1}, true},
		{"reuse grace as long as a session token", Config{TokenTTL: time.Minute, RefreshReuseGrace: time.Minute}, true},
		{"reuse grace longer than a session token", Config{TokenTTL: time.Minute, RefreshReuseGrace: time.Minute + 1}, false},
		{"session token shorter than the default grace", Config{TokenTTL: 20 * time.Second}, true},
		{"sign-ups may hold every hash slot", Config{HashConcurrency: 2, HashSignupSlots: 2}, true},
		{"more sign-up slots than slots", Config{HashConcurrency: 2, HashSignupSlots: 3}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg.withDefaults()
			if err := c.validate(); (err == nil) != tt.ok {
				t.Fatalf("validate: %v", err)
			}
			if tt.cfg.RefreshReuseGrace == 0 && c.RefreshReuseGrace != min(DefaultRefreshReuseGrace, c.TokenTTL) {
				t.Fatalf("default reuse grace %v with token TTL %v", c.RefreshReuseGrace, c.TokenTTL)
			}
		})
	}
}

// BenchmarkPasswordHash measures one argon2id hash with the default
// parameters (19 MiB, 2 passes, 1 thread): the cost of a register and of
// a password login.
func BenchmarkPasswordHash(b *testing.B) {
	h := newHasher(Argon2{}, slots(1))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(ctx, hashSignup, "", "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTokenSign and BenchmarkTokenVerify measure a session token.
func BenchmarkTokenSign(b *testing.B) {
	s := &signer{secrets: [][]byte{[]byte(testSecret)}}
	c := claims{Kind: kindSession, User: 123456, Family: newFamily(), Issued: time.Now(), Expires: time.Now().Add(time.Hour)}
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Sign(c)
	}
}

func BenchmarkTokenVerify(b *testing.B) {
	s := &signer{secrets: [][]byte{[]byte(testSecret)}}
	tok := s.Sign(claims{Kind: kindSession, User: 123456, Family: newFamily(), Issued: time.Now(), Expires: time.Now().Add(time.Hour)})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Verify(tok, kindSession); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoginE2E measures whole logins through a client, gate, broker
// and one login instance on JetStream: a returning guest (read the
// account, bind, start a token family, set the family attribute, check
// for a ban) and a token resume.
func BenchmarkLoginE2E(b *testing.B) {
	s := startStack(b, backends[0], Config{}, 1)
	c := s.dial(b)
	b.Run("guest", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			mustCall[*loginpb.GuestLogin, *loginpb.User](b, c, SubGuest, &loginpb.GuestLogin{DeviceId: "bench-device"})
		}
	})
	u := mustCall[*loginpb.GuestLogin, *loginpb.User](b, c, SubGuest, &loginpb.GuestLogin{DeviceId: "bench-device"})
	b.Run("token", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			mustCall[*loginpb.TokenLogin, *loginpb.User](b, c, SubToken, &loginpb.TokenLogin{Token: u.Tokens.Token})
		}
	})
}

// A command line that only shortens the session token still starts: the
// reuse grace follows it down unless set.
func TestFlagsShortTokenTTL(t *testing.T) {
	for _, tt := range []struct {
		args  []string
		grace time.Duration
		ok    bool
	}{
		{[]string{"-token-ttl=20s"}, 20 * time.Second, true},
		{[]string{}, DefaultRefreshReuseGrace, true},
		{[]string{"-token-ttl=20s", "-refresh-reuse-grace=5s"}, 5 * time.Second, true},
		{[]string{"-token-ttl=20s", "-refresh-reuse-grace=30s"}, 30 * time.Second, false},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			fs := flag.NewFlagSet("login", flag.ContinueOnError)
			m := New(Config{})
			m.RegisterFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			c := m.cfg.withDefaults()
			if err := c.validate(); (err == nil) != tt.ok || c.RefreshReuseGrace != tt.grace {
				t.Fatalf("grace %v, validate %v; want %v, ok %v", c.RefreshReuseGrace, err, tt.grace, tt.ok)
			}
		})
	}
}
