package login

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/logic"
)

// Protections against floods and guessing: sign-up limits, the password
// hash queue (hashq.go), the failed-login limits (limit.go) and the
// slow-down of an account under attack. Each refusal is counted (Stats)
// and logged at most once per logEvery per kind.

// errBusy is the answer of a request that got no hash slot.
var errBusy = withRetry(ErrBusy, "login: too many password checks waiting", time.Second)

// logEvery is the least time between two logs of one kind of refusal.
const logEvery = 10 * time.Second

// hashLoginWeight is how many logins get a hash slot for each sign-up
// when both wait.
const hashLoginWeight = 3

// Stats counts what the module's protections did since Open; each field
// only grows.
type Stats struct {
	// SignupLimited counts Register requests refused by SignupIP or
	// SignupGlobal (ErrSignupLimited).
	SignupLimited uint64
	// GuestLimited counts new guests refused by GuestIP or GuestGlobal.
	GuestLimited uint64
	// LoginLimited counts logins refused by the failed-login limits
	// (RateIP, RateAccount: ErrRateLimited).
	LoginLimited uint64
	// Slowed counts failed password logins answered after SlowDelay
	// because their account was under attack (SlowAccount).
	Slowed uint64
	// HashFull counts requests refused at once because the hash queue of
	// their class, or their address's share of it, was full (ErrBusy).
	HashFull uint64
	// HashExpired counts requests that got no hash slot within HashWait
	// (ErrBusy).
	HashExpired uint64
	// HashWaited counts hashes that waited for a slot and got one.
	HashWaited uint64
	// SessionGone counts logins whose client left before the session was
	// bound (answered quietly, see logic.ErrSessionGone).
	SessionGone uint64
}

// counters are the module's Stats, and the last time each was logged.
type counters struct {
	signupLimited, guestLimited, loginLimited, slowed, sessionGone atomic.Uint64

	mu     sync.Mutex
	logged map[string]logMark
}

// logMark is when a kind of refusal was last logged, and its count then.
type logMark struct {
	at time.Time
	n  uint64
}

// Stats returns the counters of the module's protections; zero before
// Open.
func (m *Module) Stats() Stats {
	if !m.open() {
		return Stats{}
	}
	return Stats{
		SignupLimited: m.count.signupLimited.Load(),
		GuestLimited:  m.count.guestLimited.Load(),
		LoginLimited:  m.count.loginLimited.Load(),
		Slowed:        m.count.slowed.Load(),
		HashFull:      m.hash.q.full.Load(),
		HashExpired:   m.hash.q.expired.Load(),
		HashWaited:    m.hash.q.waited.Load(),
		SessionGone:   m.count.sessionGone.Load(),
	}
}

// counted adds one to c and logs, at most once per logEvery per kind,
// how many there were since the last log.
func (m *Module) counted(c *atomic.Uint64, kind string, attrs ...slog.Attr) {
	n := c.Add(1)
	m.logRate(kind, n, attrs...)
}

// logRate logs kind's total n unless kind was logged less than logEvery
// ago.
func (m *Module) logRate(kind string, n uint64, attrs ...slog.Attr) {
	now := time.Now()
	m.count.mu.Lock()
	last := m.count.logged[kind]
	if !last.at.IsZero() && now.Sub(last.at) < logEvery {
		m.count.mu.Unlock()
		return
	}
	if m.count.logged == nil {
		m.count.logged = map[string]logMark{}
	}
	m.count.logged[kind] = logMark{at: now, n: n}
	m.count.mu.Unlock()
	attrs = append(attrs, slog.Uint64("total", n), slog.Uint64("since_last_log", n-last.n))
	m.log.LogAttrs(context.Background(), slog.LevelWarn, "login: "+kind, attrs...)
}

// clientAddr returns the client's IP (fabric.AttrIP), "" when the request
// did not come from a client.
func clientAddr(c *logic.Ctx) string { return c.Attr(fabric.AttrIP) }

// signupLimits returns the counter keys and limits of new accounts of a
// kind (Register or guest) from client address addr, and how a refusal is
// counted.
func (m *Module) signupLimits(guest bool, addr string) (ipKey, allKey string, ipLimit, allLimit int, c *atomic.Uint64, kind string) {
	if guest {
		// Zero is off for guests (see Config.GuestIP).
		ipKey, allKey, ipLimit, allLimit = guestIPKey(addr), guestAllKey, offIfZero(m.cfg.GuestIP), offIfZero(m.cfg.GuestGlobal)
		c, kind = &m.count.guestLimited, "guest sign-up limit reached"
	} else {
		ipKey, allKey, ipLimit, allLimit = signupIPKey(addr), signupAllKey, m.cfg.SignupIP, m.cfg.SignupGlobal
		c, kind = &m.count.signupLimited, "sign-up limit reached"
	}
	if addr == "" {
		ipKey = "" // not from a client: no per-IP limit
	}
	return
}

// hotSignup returns ErrSignupLimited when this instance recently found
// the per-IP or global limit of new accounts used up, without a store
// read: a flood that is over its limit learns it (and how long to wait)
// before the hash queue would call it busy.
func (m *Module) hotSignup(guest bool, addr string) error {
	ipKey, allKey, ipLimit, allLimit, c, kind := m.signupLimits(guest, addr)
	err := m.signupIP.hotRefusal(ipKey, ipLimit)
	if err == nil {
		err = m.signupAll.hotRefusal(allKey, allLimit)
	}
	if err != nil {
		m.counted(c, kind, slog.String("ip", addr))
	}
	return err
}

// checkSignup returns ErrSignupLimited when the per-IP or the global limit
// of new accounts of a kind is used up, without counting anything.
func (m *Module) checkSignup(ctx context.Context, guest bool, addr string) error {
	ipKey, allKey, ipLimit, allLimit, c, kind := m.signupLimits(guest, addr)
	if err := m.signupIP.check(ctx, ipKey, ipLimit); err != nil {
		if isLimited(err) {
			m.counted(c, kind, slog.String("limit", "per IP"), slog.String("ip", addr))
		}
		return err
	}
	err := m.signupAll.check(ctx, allKey, allLimit)
	if isLimited(err) {
		m.counted(c, kind, slog.String("limit", "global"))
	}
	return err
}

// takeSignup counts one new account of a kind from client address addr
// against the per-IP and the global limit, and returns ErrSignupLimited
// when either is used up. Give the counts back with m.refund when no
// account is created.
func (m *Module) takeSignup(ctx context.Context, guest bool, addr string) ([]reservation, error) {
	ipKey, allKey, ipLimit, allLimit, c, kind := m.signupLimits(guest, addr)
	rip, err := m.signupIP.take(ctx, ipKey, ipLimit)
	if err != nil {
		if isLimited(err) {
			m.counted(c, kind, slog.String("limit", "per IP"), slog.String("ip", addr))
		}
		return nil, err
	}
	rall, err := m.signupAll.take(ctx, allKey, allLimit)
	if err != nil {
		m.refund(ctx, rip)
		if isLimited(err) {
			m.counted(c, kind, slog.String("limit", "global"))
		}
		return nil, err
	}
	return []reservation{rip, rall}, nil
}

func offIfZero(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// isLimited reports whether err is a limit's refusal (not a store error).
func isLimited(err error) bool {
	_, ok := RetryAfter(err)
	return ok
}

// hashErr counts and logs a refusal of the hash queue.
func (m *Module) hashErr(err error, addr string) {
	if err == errBusy {
		q := m.hash.q
		m.logRate("password hash queue busy", q.full.Load()+q.expired.Load(),
			slog.Uint64("queue_full", q.full.Load()), slog.Uint64("waited_too_long", q.expired.Load()),
			slog.String("ip", addr))
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// withCallerDeadline returns ctx carrying the time c's caller stops
// waiting (logic.Ctx.Deadline), which bounds a wait for a hash slot. It
// is a value, not ctx's own deadline: store writes of a request still run
// to their end once they have begun.
func withCallerDeadline(ctx context.Context, c *logic.Ctx) context.Context {
	if dl, ok := c.Deadline(); ok {
		return context.WithValue(ctx, deadlineKey{}, dl)
	}
	return ctx
}
