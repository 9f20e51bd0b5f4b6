package login

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/store"
	loginpb "github.com/iogo-dev/iogo/proto/login"
)

// finish logs account a in on the connection: it refuses a banned account,
// binds the session (kicking the user's other session with -1007), and
// issues tokens: a new family, or for a resumed session (f set) a fresh
// session token of family f.
func (m *Module) finish(c *logic.Ctx, a *account, created bool, f *family) (*loginpb.User, error) {
	ctx := c.Context()
	if err := m.checkBan(a); err != nil {
		return nil, err
	}
	if err := c.Bind(a.ID); err != nil {
		return nil, m.goneErr(err)
	}
	var toks *loginpb.Tokens
	if f == nil {
		t, nf, err := m.issue(ctx, a)
		if err != nil {
			return nil, err
		}
		toks, f = t, &nf
	} else {
		toks = m.tokens(a, *f, 0, m.now(), false)
	}
	if err := c.SetAttr(AttrFamily, f.key()); err != nil {
		return nil, m.goneErr(err)
	}
	// A ban written between the read of a and the bind found no session to
	// kick; read the account once more, so that no banned user stays on.
	cur, err := m.getAccount(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	if b := cur.banned(m.now()); b != nil || cur.Epoch != a.Epoch {
		_ = m.revokeFamily(ctx, *f, "ban")
		e := ErrTokenInvalid
		if b != nil {
			e = bannedErr(b)
		}
		_ = c.Kick(a.ID, errs.CodeForcedOffline, e.Msg)
		return nil, e
	}
	u := userOf(a, created)
	u.Tokens = toks
	return u, nil
}

// guestAccount returns the account of device, creating it on first use
// within the guest sign-up limits of client address addr.
func (m *Module) guestAccount(ctx context.Context, addr string, id int64, device, nick string) (*account, bool, error) {
	for {
		a, err := m.getAccount(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			a = &account{ID: id, Device: device, Nickname: cmp(nick, "guest"), Created: m.now().UnixMilli()}
			b, err := json.Marshal(a)
			if err != nil {
				return nil, false, err
			}
			rs, err := m.takeSignup(ctx, true, addr)
			if err != nil {
				return nil, false, err
			}
			if _, err = m.accounts.Create(ctx, userKey(id), b); err != nil {
				m.refund(ctx, rs...)
				if errors.Is(err, store.ErrExists) {
					continue // a concurrent first login of the device won
				}
				return nil, false, err
			}
			return a, true, nil
		}
		if err != nil {
			return nil, false, err
		}
		if a.Device != device {
			return nil, false, ErrDeviceTaken
		}
		if nick != "" && nick != a.Nickname {
			a, err := m.updateAccount(ctx, id, func(a *account) error { a.Nickname = nick; return nil })
			return a, false, err
		}
		return a, false, nil
	}
}

// registerAccount creates a password account for client address addr,
// within its sign-up limits.
func (m *Module) registerAccount(ctx context.Context, addr, username, password, nick string) (*account, error) {
	key := nameKey(username)
	if _, err := m.accounts.Get(ctx, key); err == nil {
		return nil, ErrUsernameTaken
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	// The limits are read first, so that a refused flood waits for no
	// slot; they are counted while holding the hash slot, so that few
	// requests at a time raise the shared counters (less contention).
	if err := m.checkSignup(ctx, false, addr); err != nil {
		return nil, err
	}
	if err := m.hash.acquire(ctx, hashSignup, addr); err != nil {
		m.hashErr(err, addr)
		return nil, err
	}
	rs, err := m.takeSignup(ctx, false, addr)
	if err != nil {
		m.hash.q.release(hashSignup)
		return nil, err
	}
	created := false
	defer func() {
		if !created {
			m.refund(ctx, rs...)
		}
	}()
	hash, err := m.hash.hashHeld(password)
	m.hash.q.release(hashSignup)
	if err != nil {
		return nil, err
	}
	a := &account{Username: username, Hash: hash, Nickname: nick}
	if _, err := m.createClaimed(ctx, a, key); err != nil {
		if errors.Is(err, store.ErrExists) {
			return nil, ErrUsernameTaken
		}
		return nil, err
	}
	created = true
	return a, nil
}

// authenticate checks a username and password. An unknown username costs a
// hash too, so that the answer's timing does not tell which names exist.
// A password hashed with other parameters than the configured ones is
// rehashed. The hashes wait in the login queue as client address addr.
func (m *Module) authenticate(ctx context.Context, addr, username, password string) (*account, error) {
	var a *account
	id, err := m.claimed(ctx, nameKey(username))
	if err == nil {
		a, err = m.getAccount(ctx, id)
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	hash := ""
	if a != nil {
		hash = a.Hash
	}
	ok, stale, err := m.hash.Check(ctx, addr, password, hash)
	if err != nil {
		m.hashErr(err, addr)
		return nil, err
	}
	if !ok {
		return nil, ErrBadCredentials
	}
	if stale {
		if nh, err := m.hash.Hash(ctx, hashLogin, addr, password); err == nil {
			if _, err := m.updateAccount(ctx, a.ID, func(cur *account) error {
				if cur.Hash == hash {
					cur.Hash = nh
				}
				return nil
			}); err != nil {
				m.log.Warn("login: rehash failed", slog.Int64("user", a.ID), slog.Any("error", err))
			}
		}
	}
	return a, nil
}

// verify runs the provider's verifier on token.
func (m *Module) verify(ctx context.Context, provider, token string) (string, string, error) {
	v := m.cfg.Verifiers[provider]
	if v == nil {
		return "", "", ErrUnknownProvider
	}
	if len(token) == 0 || len(token) > maxExtToken {
		return "", "", ErrProvider
	}
	id, name, err := v.Verify(ctx, token)
	if err != nil {
		if e, ok := errors.AsType[*errs.Error](err); ok {
			return "", "", e
		}
		m.log.Info("login: identity provider rejected a token", slog.String("provider", provider), slog.Any("error", err))
		return "", "", ErrProvider
	}
	if id == "" || len(id) > maxProviderID {
		return "", "", ErrProvider
	}
	if utf8.RuneCountInString(name) > maxNickname {
		name = ""
	}
	return id, name, nil
}

// customAccount returns the account of an external identity, creating it
// on first use.
func (m *Module) customAccount(ctx context.Context, provider, xid, nick string) (*account, bool, error) {
	key := extKey(provider, xid)
	id, err := m.claimed(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		a := &account{Nickname: nick, Ext: []extID{{Provider: provider, ID: xid}}}
		id, err = m.createClaimed(ctx, a, key)
		if err == nil {
			return a, true, nil
		}
		if errors.Is(err, store.ErrExists) {
			err = nil // a concurrent first login created it: use that account
		}
	}
	if err != nil {
		return nil, false, err
	}
	a, err := m.getAccount(ctx, id)
	return a, false, err
}

// linkUsername adds a username and password to account id, for client
// address addr.
func (m *Module) linkUsername(ctx context.Context, addr string, id int64, username, password string) (*account, error) {
	a, err := m.getAccount(ctx, id)
	if err != nil {
		return nil, err
	}
	if a.Username != "" {
		return nil, ErrAlreadyLinked.WithMsg("login: the account already has a username")
	}
	hash, err := m.hash.Hash(ctx, hashSignup, addr, password)
	if err != nil {
		m.hashErr(err, addr)
		return nil, err
	}
	key := nameKey(username)
	if err := m.claim(ctx, key, id); err != nil {
		if errors.Is(err, store.ErrExists) {
			return nil, ErrUsernameTaken
		}
		return nil, err
	}
	a, err = m.updateAccount(ctx, id, func(a *account) error {
		if a.Username != "" && nameKey(a.Username) != key {
			return ErrAlreadyLinked.WithMsg("login: the account already has a username")
		}
		a.Username, a.Hash = username, hash
		return nil
	})
	if err != nil {
		_ = m.accounts.Delete(context.WithoutCancel(ctx), key)
		return nil, err
	}
	return a, nil
}

// linkExternal adds an external identity to account id.
func (m *Module) linkExternal(ctx context.Context, id int64, provider, xid string) (*account, error) {
	key := extKey(provider, xid)
	if err := m.claim(ctx, key, id); err != nil {
		if errors.Is(err, store.ErrExists) {
			return nil, ErrAlreadyLinked.WithMsg("login: the identity belongs to another account")
		}
		return nil, err
	}
	return m.updateAccount(ctx, id, func(a *account) error {
		for _, e := range a.Ext {
			if e.Provider == provider && e.ID == xid {
				return nil
			}
		}
		a.Ext = append(a.Ext, extID{Provider: provider, ID: xid})
		return nil
	})
}

// failed counts a failed login against the client IP and the username
// key; an error of the store is logged, never shown to the client.
func (m *Module) failed(ctx context.Context, ip, acct string) {
	for _, k := range []string{ip, acct} {
		if _, err := m.limit.fail(ctx, k); err != nil {
			m.log.Warn("login: counting a failed login", slog.Any("error", err))
		}
	}
}

// refund gives back counts taken by limiter.take; an error of the
// store is logged (the attempt then stays counted).
func (m *Module) refund(ctx context.Context, rs ...reservation) {
	ctx = context.WithoutCancel(ctx)
	for _, r := range rs {
		if err := r.refund(ctx); err != nil {
			m.log.Warn("login: giving back a login attempt", slog.Any("error", err))
		}
	}
}

// clientIP returns the rate-limit key of the connection's IP, "" when the
// request did not come from a client.
func clientIP(c *logic.Ctx) string {
	if ip := clientAddr(c); ip != "" {
		return ipKey(ip)
	}
	return ""
}

// slowDown counts a failed password login of username from all addresses
// and, once the account is under attack (more than SlowAccount failures
// in the window), waits SlowDelay before the failure is answered: the
// attacker's connection (whose requests run one at a time) guesses slower,
// while the owner, whose right password is answered at once, is not
// locked out.
func (m *Module) slowDown(ctx context.Context, username string) {
	n, err := m.limit.fail(ctx, accountKey(username))
	if err != nil {
		m.log.Warn("login: counting a failed login", slog.Any("error", err))
		return
	}
	if m.cfg.SlowAccount < 0 || n <= m.cfg.SlowAccount {
		return
	}
	m.counted(&m.count.slowed, "account under attack: failed logins slowed down",
		slog.String("username", username), slog.Int("failures_in_window", n))
	sleep(ctx, m.cfg.SlowDelay)
}

// limited counts a refusal of the failed-login limits.
func (m *Module) limited(err error, addr string) error {
	if isLimited(err) {
		m.counted(&m.count.loginLimited, "failed-login limit reached", slog.String("ip", addr))
	}
	return err
}

// goneErr counts a login whose client left before its session was bound.
func (m *Module) goneErr(err error) error {
	if errors.Is(err, logic.ErrSessionGone) {
		m.count.sessionGone.Add(1)
	}
	return err
}

// kickFamily disconnects userID's live session if it logged in with family
// f, with -1007 and msg.
func (m *Module) kickFamily(ctx context.Context, userID int64, f family, msg string) {
	cl := m.client()
	if cl == nil {
		return
	}
	attrs, err := cl.UserAttrs(ctx, userID)
	if err != nil {
		return // offline, or the check failed: the tokens are revoked anyway
	}
	if attrs[AttrFamily] == f.key() {
		if err := cl.Kick(ctx, userID, errs.CodeForcedOffline, msg); err != nil {
			m.log.Warn("login: kick", slog.Int64("user", userID), slog.Any("error", err))
		}
	}
}

func (m *Module) client() *logic.Client {
	if m.srv == nil {
		return nil
	}
	return m.srv.Client()
}

func parseFamily(s string) (family, bool) {
	var f family
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != len(f) {
		return f, false
	}
	copy(f[:], b)
	return f, true
}

func timeMs(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// Ban bars userID from logging in until until (the zero time: for good),
// with a reason shown to the user: it revokes every token of the user,
// kicks a live session with -1007 and the reason, and refuses logins with
// ErrBanned until the ban ends. Banning again replaces the ban.
func (m *Module) Ban(ctx context.Context, userID int64, reason string, until time.Time) error {
	if !m.open() {
		return ErrNotOpen
	}
	if userID <= 0 || len(reason) > maxReason {
		return errs.ErrValidation.WithMsg("login: ban needs a user_id and a reason of at most 256 bytes")
	}
	if !until.IsZero() && !until.After(m.now()) {
		return errs.ErrValidation.WithMsg("login: ban ends in the past")
	}
	b := &ban{Reason: reason}
	if !until.IsZero() {
		b.UntilMs = until.UnixMilli()
	}
	_, err := m.updateAccount(ctx, userID, func(a *account) error {
		a.Ban = b
		a.Epoch++
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return errs.ErrDataNotFound.WithMsg("login: no such user")
	}
	if err != nil {
		return err
	}
	if cl := m.client(); cl != nil {
		if err := cl.Kick(ctx, userID, errs.CodeForcedOffline, bannedErr(b).Msg); err != nil {
			return err
		}
	}
	return nil
}

// Unban lifts userID's ban.
func (m *Module) Unban(ctx context.Context, userID int64) error {
	if !m.open() {
		return ErrNotOpen
	}
	_, err := m.updateAccount(ctx, userID, func(a *account) error { a.Ban = nil; return nil })
	if errors.Is(err, store.ErrNotFound) {
		return errs.ErrDataNotFound.WithMsg("login: no such user")
	}
	return err
}
