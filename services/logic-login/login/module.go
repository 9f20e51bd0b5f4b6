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
)

// Defaults of Config.
const (
	DefaultTokenTTL    = 15 * time.Minute
	DefaultRefreshTTL  = 30 * 24 * time.Hour
	DefaultFirstUserID = 100000
	DefaultRateWindow  = time.Minute
	DefaultRateIP      = 20
	DefaultRateAccount = 5
	// DefaultSlowAccount failed password logins of one username in a
	// rate window, from all addresses together, mark it as under attack.
	DefaultSlowAccount = 20
	DefaultSlowDelay   = time.Second
	// Sign-up limits: accounts created by Register per client IP per
	// hour, and by everyone per minute.
	DefaultSignupWindow       = time.Hour
	DefaultSignupIP           = 20
	DefaultSignupGlobalWindow = time.Minute
	DefaultSignupGlobal       = 600
	// Hash queue: waiting password hashes per class (logins, sign-ups),
	// per class and client IP, and the longest wait for a slot.
	DefaultHashQueue   = 64
	DefaultHashQueueIP = 4
	DefaultHashWait    = 2 * time.Second
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
	BucketSignups  = "login_signups"
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
	// instance (each holds Argon2.Memory and a core); default GOMAXPROCS.
	HashConcurrency int
	// HashSignupSlots is how many of the HashConcurrency slots sign-ups
	// (Register, LinkPassword) may hold at once, so that a sign-up flood
	// leaves slots to password logins; default half, rounded up. At most
	// HashConcurrency. Logins may use every slot, and get three slots for
	// each one a waiting sign-up gets.
	HashSignupSlots int
	// HashQueue is how many password hashes may wait for a slot, per
	// class (logins and sign-ups each have their own queue); default 64.
	// A request that finds its queue full is refused at once with
	// ErrBusy. A queue serves client addresses in turn (round-robin),
	// each address's requests in arrival order.
	HashQueue int
	// HashQueueIP is how many of a queue's places one client IP may hold;
	// default 4.
	HashQueueIP int
	// HashWait is the longest a request waits for a hash slot before it is
	// refused with ErrBusy; default 2 seconds (keep it well below the
	// gate's request timeout, 5 s by default).
	HashWait time.Duration
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
	// take per window from one client IP, before that IP's password logins
	// to it are refused until the window ends; default 5, negative turns
	// the limit off. Failures from other addresses do not count, so an
	// attacker cannot lock the owner out (see SlowAccount).
	RateAccount int
	// SlowAccount is how many failed password logins one username may
	// take per window from all addresses together before it counts as
	// under attack: from then on, until the window ends, each further
	// failed password login to it is answered only after SlowDelay (a
	// right password is answered at once). Default 20, negative turns the
	// slow-down off.
	SlowAccount int
	// SlowDelay delays the answer of a failed password login to an
	// account under attack; default 1 second.
	SlowDelay time.Duration
	// SignupWindow is the window of the per-IP sign-up counters (SignupIP,
	// GuestIP); default 1 hour.
	SignupWindow time.Duration
	// SignupIP is how many accounts Register may create per client IP per
	// SignupWindow, on all instances together; more are refused with
	// ErrSignupLimited until the window ends. Default 20, negative: off.
	SignupIP int
	// SignupGlobalWindow is the window of the global sign-up counters
	// (SignupGlobal, GuestGlobal); default 1 minute.
	SignupGlobalWindow time.Duration
	// SignupGlobal is how many accounts Register may create per
	// SignupGlobalWindow from all addresses and instances together;
	// default 600, negative: off.
	SignupGlobal int
	// GuestIP is how many guest accounts (a GuestLogin with a new device)
	// may be created per client IP per SignupWindow; 0 (the default) or
	// negative: no limit — load tests and `iogo sim` create thousands of
	// guests from one address. Returning guests are never limited.
	GuestIP int
	// GuestGlobal is how many guest accounts may be created per
	// SignupGlobalWindow from all addresses together; 0 (the default) or
	// negative: no limit.
	GuestGlobal int
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
	if c.HashSignupSlots <= 0 {
		c.HashSignupSlots = (c.HashConcurrency + 1) / 2
	}
	if c.HashQueue <= 0 {
		c.HashQueue = DefaultHashQueue
	}
	if c.HashQueueIP <= 0 {
		c.HashQueueIP = DefaultHashQueueIP
	}
	if c.HashWait <= 0 {
		c.HashWait = DefaultHashWait
	}
	if c.SlowAccount == 0 {
		c.SlowAccount = DefaultSlowAccount
	}
	if c.SlowDelay <= 0 {
		c.SlowDelay = DefaultSlowDelay
	}
	if c.SignupWindow <= 0 {
		c.SignupWindow = DefaultSignupWindow
	}
	if c.SignupIP == 0 {
		c.SignupIP = DefaultSignupIP
	}
	if c.SignupGlobalWindow <= 0 {
		c.SignupGlobalWindow = DefaultSignupGlobalWindow
	}
	if c.SignupGlobal == 0 {
		c.SignupGlobal = DefaultSignupGlobal
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
	if c.HashSignupSlots > c.HashConcurrency {
		return fmt.Errorf("login: %d hash slots for sign-ups, more than the %d hash slots", c.HashSignupSlots, c.HashConcurrency)
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

// Module is the login service: it implements logic.Module. Build it
// with New (or FromFlags), set verifiers before Open, then serve its
// Router. Its handlers and its Go API (Ban, Unban, VerifyToken) are safe
// for concurrent use once Open returned.
type Module struct {
	cfg       Config
	routeOnce sync.Once
	router    *route.Router

	// Set by Open; nil before, which leaves the module stateless (see Router).
	srv       *logic.Server
	accounts  store.KV
	sessions  store.KV
	limit     *limiter // failed logins
	signupIP  *limiter // accounts created per client IP
	signupAll *limiter // accounts created by everyone
	hash      *hasher
	count     counters
	sign      *signer
	log       *slog.Logger
	now       func() time.Time
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
// -hash-signup-slots, -hash-queue, -hash-queue-ip, -hash-wait,
// -first-user-id, -rate-window, -rate-ip, -rate-account, -slow-account,
// -slow-delay, -signup-window, -signup-ip, -signup-global-window,
// -signup-global, -guest-ip, -guest-global); it is the shape
// svcmain.RunLogic's Module field takes. Set verifiers with SetVerifier before Open.
func FromFlags(fs *flag.FlagSet) logic.Module {
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
	fs.IntVar(&c.HashSignupSlots, "hash-signup-slots", 0, "of those, how many sign-ups may hold at once (default half of -hash-concurrency, rounded up)")
	fs.IntVar(&c.HashQueue, "hash-queue", DefaultHashQueue, "password hashes that may wait for a slot, per class (logins, sign-ups); more are refused with 1111 busy")
	fs.IntVar(&c.HashQueueIP, "hash-queue-ip", DefaultHashQueueIP, "places in each hash queue one client IP may hold")
	fs.DurationVar(&c.HashWait, "hash-wait", DefaultHashWait, "longest wait for a hash slot before 1111 busy")
	fs.Int64Var(&c.FirstUserID, "first-user-id", DefaultFirstUserID, "userID of the first registered account")
	fs.DurationVar(&c.RateWindow, "rate-window", DefaultRateWindow, "window of the failed-login counters")
	fs.IntVar(&c.RateIP, "rate-ip", DefaultRateIP, "failed logins allowed per client IP per window (negative: off)")
	fs.IntVar(&c.RateAccount, "rate-account", DefaultRateAccount, "failed password logins allowed per username per window from one client IP (negative: off)")
	fs.IntVar(&c.SlowAccount, "slow-account", DefaultSlowAccount, "failed password logins per username per window, all IPs together, after which each further failure is answered after -slow-delay (negative: off)")
	fs.DurationVar(&c.SlowDelay, "slow-delay", DefaultSlowDelay, "delay of a failed password login to an account under attack")
	fs.DurationVar(&c.SignupWindow, "signup-window", DefaultSignupWindow, "window of the per-IP sign-up counters")
	fs.IntVar(&c.SignupIP, "signup-ip", DefaultSignupIP, "accounts Register may create per client IP per -signup-window (negative: off)")
	fs.DurationVar(&c.SignupGlobalWindow, "signup-global-window", DefaultSignupGlobalWindow, "window of the global sign-up counters")
	fs.IntVar(&c.SignupGlobal, "signup-global", DefaultSignupGlobal, "accounts Register may create per -signup-global-window, all IPs and instances together (negative: off)")
	fs.IntVar(&c.GuestIP, "guest-ip", 0, "new guest accounts per client IP per -signup-window (0: no limit)")
	fs.IntVar(&c.GuestGlobal, "guest-global", 0, "new guest accounts per -signup-global-window, all IPs together (0: no limit)")
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
// the handlers stateful. It implements logic.Module.
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
	signups, err := st.Open(ctx, store.Bucket{Name: BucketSignups, TTL: max(cfg.SignupWindow, cfg.SignupGlobalWindow),
		Description: "login: accounts created per client IP and in total"})
	if err != nil {
		return fmt.Errorf("login: open %s: %w", BucketSignups, err)
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
	m.hash = newHasher(cfg.Argon2, hashLimits{
		slots: cfg.HashConcurrency, signupSlots: cfg.HashSignupSlots,
		queue: cfg.HashQueue, perAddr: cfg.HashQueueIP, wait: cfg.HashWait, loginWeight: hashLoginWeight,
	})
	m.limit = &limiter{kv: limits, window: cfg.RateWindow, now: cfg.Now}
	m.signupIP = &limiter{kv: signups, window: cfg.SignupWindow, now: cfg.Now, refused: signupLimited}
	m.signupAll = &limiter{kv: signups, window: cfg.SignupGlobalWindow, now: cfg.Now, refused: signupLimited}
	m.sessions = sessions
	m.accounts = accounts // last: handlers test it to know the module is open
	return nil
}

// Close implements logic.Module; the module holds nothing to release
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
