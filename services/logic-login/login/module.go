package login

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
	"github.com/iogo-dev/iogo/pkg/store"
	"github.com/iogo-dev/iogo/pkg/svcmain"
)

// Defaults of Config.
const (
	DefaultTokenTTL    = 15 * time.Minute
	DefaultRefreshTTL  = 30 * 24 * time.Hour
	DefaultFirstUserID = 100000
	DefaultRateWindow  = time.Minute
	DefaultRateIP      = 20
	DefaultRateAccount = 5
	// DefaultRefreshReuseGrace covers a client that retries a refresh
	// whose answer it never got: the TypeScript SDK gives up on a request
	// after 10 s, then reconnects and retries, so a 10 s window would
	// miss the common case.
	DefaultRefreshReuseGrace = 30 * time.Second
)

// Bucket names.
const (
	BucketAccounts = "login_accounts"
	BucketSessions = "login_sessions"
	BucketLimits   = "login_limits"
)

// Config configures the login module. The zero value is usable: every
// field has a default.
type Config struct {
	// Secret signs session and refresh tokens: one or more secrets
	// separated by commas, at least 32 bytes each; the first signs, all
	// verify (to rotate, put the new one first and drop the old one after
	// RefreshTTL). Every instance needs the same secret. Empty: a random
	// secret is generated once and kept in the accounts bucket, shared by
	// the instances, with a warning — for development only.
	Secret string
	// TokenTTL is the life of a session token; default 15 minutes.
	TokenTTL time.Duration
	// RefreshTTL is the life of a refresh token, renewed by each refresh;
	// default 30 days.
	RefreshTTL time.Duration
	// RefreshReuseGrace is how long after a rotation the refresh token it
	// replaced may be presented again, with the request_id of that
	// rotation, for a client that retries a refresh whose answer was
	// lost: the retry gets the same successor tokens the first refresh
	// returned, and no new branch of the login. Presenting it later, with
	// another request_id, or any older token, is reuse (ErrTokenReused).
	// Default 30 seconds, or TokenTTL when that is shorter; negative is
	// strict (every second use is reuse); at most TokenTTL.
	RefreshReuseGrace time.Duration
	// Argon2 are the password hashing parameters.
	Argon2 Argon2
	// HashConcurrency bounds the password hashes computed at once by this
	// instance (each holds Argon2.Memory); default GOMAXPROCS.
	HashConcurrency int
	// FirstUserID is the userID of the first registered account; default
	// 100000. Guests have large IDs derived from their device (GuestID).
	FirstUserID int64
	// RateWindow is the window of the failed-login counters; default 1 minute.
	RateWindow time.Duration
	// RateIP is how many failed logins a client IP may make per window
	// before its logins are refused until the window ends; default 20,
	// negative turns the limit off.
	RateIP int
	// RateAccount is how many failed password logins one username may
	// take per window; default 5, negative turns the limit off.
	RateAccount int
	// Verifiers are the external identity providers by name, for
	// CustomLogin and LinkCustom.
	Verifiers map[string]Verifier
	// Logger receives the module's logs; default: the logic server's.
	Logger *slog.Logger
	// Now returns the current time (tests); default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.TokenTTL <= 0 {
		c.TokenTTL = DefaultTokenTTL
	}
	if c.RefreshTTL <= 0 {
		c.RefreshTTL = DefaultRefreshTTL
	}
	if c.RefreshReuseGrace == 0 {
		c.RefreshReuseGrace = min(DefaultRefreshReuseGrace, c.TokenTTL)
	}
	if c.HashConcurrency <= 0 {
		c.HashConcurrency = runtime.GOMAXPROCS(0)
	}
	if c.FirstUserID <= 0 {
		c.FirstUserID = DefaultFirstUserID
	}
	if c.RateWindow <= 0 {
		c.RateWindow = DefaultRateWindow
	}
	if c.RateIP == 0 {
		c.RateIP = DefaultRateIP
	}
	if c.RateAccount == 0 {
		c.RateAccount = DefaultRateAccount
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Argon2 = c.Argon2.withDefaults()
	return c
}

// validate checks a defaulted config.
func (c Config) validate() error {
	if c.RefreshTTL < c.TokenTTL {
		return fmt.Errorf("login: refresh TTL %v is shorter than the token TTL %v", c.RefreshTTL, c.TokenTTL)
	}
	if c.RefreshReuseGrace > c.TokenTTL {
		return fmt.Errorf("login: refresh reuse grace %v is longer than the token TTL %v", c.RefreshReuseGrace, c.TokenTTL)
	}
	for _, s := range c.secrets() {
		if len(s) < 32 {
			return errors.New("login: a token secret must have at least 32 bytes")
		}
	}
	for name, v := range c.Verifiers {
		if !validProvider(name) || v == nil {
			return fmt.Errorf("login: verifier %q: name must be 1..32 of a-z 0-9 _ - and the verifier non-nil", name)
		}
	}
	return nil
}

func (c Config) secrets() [][]byte {
	var out [][]byte
	for _, s := range strings.Split(c.Secret, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, []byte(s))
		}
	}
	return out
}

// Module is the login service: it implements svcmain.Module. Build it
// with New (or FromFlags), set verifiers before Open, then serve its
// Router. Its handlers and its Go API (Ban, Unban, VerifyToken) are safe
// for concurrent use once Open returned.
type Module struct {
	cfg       Config
	routeOnce sync.Once
	router    *route.Router

	// Set by Open; nil before, which leaves the module stateless (see Router).
	srv      *logic.Server
	accounts store.KV
	sessions store.KV
	limit    *limiter
	hash     *hasher
	sign     *signer
	log      *slog.Logger
	now      func() time.Time
}

// New returns a login module with cfg; nothing is opened until Open.
func New(cfg Config) *Module {
	m := &Module{cfg: cfg}
	if m.cfg.Verifiers == nil {
		m.cfg.Verifiers = map[string]Verifier{}
	}
	return m
}

// FromFlags returns a login module configured by flags it defines on fs
// (-token-secret, -token-ttl, -refresh-ttl, -refresh-reuse-grace,
// -argon-memory, -argon-time, -argon-threads, -hash-concurrency,
// -first-user-id, -rate-window, -rate-ip, -rate-account); it is the shape svcmain.RunLogic's Module field
// takes. Set verifiers with SetVerifier before Open.
func FromFlags(fs *flag.FlagSet) svcmain.Module {
	m := New(Config{})
	m.RegisterFlags(fs)
	return m
}

// RegisterFlags defines the module's flags on fs, bound to its config;
// call it before fs is parsed and before Open.
func (m *Module) RegisterFlags(fs *flag.FlagSet) {
	c := &m.cfg
	fs.StringVar(&c.Secret, "token-secret", c.Secret, "token signing secrets, comma-separated, >= 32 bytes each; the first signs (prefer the environment variable; empty: a generated dev secret)")
	fs.DurationVar(&c.TokenTTL, "token-ttl", DefaultTokenTTL, "session token lifetime")
	fs.DurationVar(&c.RefreshTTL, "refresh-ttl", DefaultRefreshTTL, "refresh token lifetime, renewed by each refresh")
	fs.DurationVar(&c.RefreshReuseGrace, "refresh-reuse-grace", 0, "how long a rotated refresh token may be retried, with the same request_id, for the same successor (0: 30s, or -token-ttl if shorter; negative: strict, any second use is reuse)")
	memory, tm, threads := uint(DefaultArgonMemory), uint(DefaultArgonTime), uint(DefaultArgonThreads)
	fs.Func("argon-memory", fmt.Sprintf("argon2id memory in KiB (default %d)", memory), parseUint32(&c.Argon2.Memory))
	fs.Func("argon-time", fmt.Sprintf("argon2id passes (default %d)", tm), parseUint32(&c.Argon2.Time))
	fs.Func("argon-threads", fmt.Sprintf("argon2id parallelism (default %d)", threads), func(s string) error {
		var v uint32
		if err := parseUint32(&v)(s); err != nil || v > 255 {
			return errors.New("want 1..255")
		}
		c.Argon2.Threads = uint8(v)
		return nil
	})
	fs.IntVar(&c.HashConcurrency, "hash-concurrency", 0, "password hashes computed at once (default GOMAXPROCS)")
	fs.Int64Var(&c.FirstUserID, "first-user-id", DefaultFirstUserID, "userID of the first registered account")
	fs.DurationVar(&c.RateWindow, "rate-window", DefaultRateWindow, "window of the failed-login counters")
	fs.IntVar(&c.RateIP, "rate-ip", DefaultRateIP, "failed logins allowed per client IP per window (negative: off)")
	fs.IntVar(&c.RateAccount, "rate-account", DefaultRateAccount, "failed password logins allowed per username per window (negative: off)")
}

func parseUint32(dst *uint32) func(string) error {
	return func(s string) error {
		var v uint32
		if _, err := fmt.Sscan(s, &v); err != nil || v == 0 {
			return errors.New("want a positive integer")
		}
		*dst = v
		return nil
	}
}

// SetVerifier registers the identity provider name (1..32 of a-z 0-9 _ -)
// for CustomLogin and LinkCustom; call it before Open.
func (m *Module) SetVerifier(name string, v Verifier) { m.cfg.Verifiers[name] = v }

// Open opens the module's buckets on st, loads the token secret and makes
// the handlers stateful. It implements svcmain.Module.
func (m *Module) Open(ctx context.Context, srv *logic.Server, st store.Opener) error {
	cfg := m.cfg.withDefaults()
	if cfg.Logger == nil {
		cfg.Logger = srv.Logger()
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	accounts, err := st.Open(ctx, store.Bucket{Name: BucketAccounts, Description: "login: accounts, username and identity claims, userID counter"})
	if err != nil {
		return fmt.Errorf("login: open %s: %w", BucketAccounts, err)
	}
	sessions, err := st.Open(ctx, store.Bucket{Name: BucketSessions, TTL: cfg.RefreshTTL, Description: "login: token families (rotation, revocation)"})
	if err != nil {
		return fmt.Errorf("login: open %s: %w", BucketSessions, err)
	}
	limits, err := st.Open(ctx, store.Bucket{Name: BucketLimits, TTL: cfg.RateWindow, Description: "login: failed-login counters"})
	if err != nil {
		return fmt.Errorf("login: open %s: %w", BucketLimits, err)
	}
	secrets := cfg.secrets()
	if len(secrets) == 0 {
		s, err := devSecret(ctx, accounts)
		if err != nil {
			return err
		}
		secrets = [][]byte{s}
		cfg.Logger.Warn("login: no token secret configured (-token-secret / IOGO_LOGIN_TOKEN_SECRET); " +
			"using a generated secret kept in the store: fine for development, set one in production")
	}
	m.cfg = cfg
	m.srv, m.log, m.now = srv, cfg.Logger, cfg.Now
	m.sign = &signer{secrets: secrets}
	m.hash = newHasher(cfg.Argon2, cfg.HashConcurrency)
	m.limit = &limiter{kv: limits, window: cfg.RateWindow, now: cfg.Now}
	m.sessions = sessions
	m.accounts = accounts // last: handlers test it to know the module is open
	return nil
}

// Close implements svcmain.Module; the module holds nothing to release
// (the store belongs to the caller).
func (m *Module) Close() error { return nil }

// open reports whether Open succeeded.
func (m *Module) open() bool { return m.accounts != nil }

// devSecret returns the generated secret kept under secret.dev, creating
// it on first use; concurrent instances agree on one.
func devSecret(ctx context.Context, kv store.KV) ([]byte, error) {
	const key = "secret.dev"
	for {
		e, err := kv.Get(ctx, key)
		if err == nil {
			return base64.RawStdEncoding.DecodeString(string(e.Value))
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("login: read dev secret: %w", err)
		}
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		_, err = kv.Create(ctx, key, []byte(base64.RawStdEncoding.EncodeToString(b)))
		if err == nil {
			return b, nil
		}
		if !errors.Is(err, store.ErrExists) {
			return nil, fmt.Errorf("login: write dev secret: %w", err)
		}
	}
}
