package login

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/store"
	loginpb "github.com/iogo-dev/iogo/proto/login"
)

// AttrFamily is the session attribute the module sets at every login: the
// ID of the login's token family, which Logout revokes.
const AttrFamily = "login_family"

// famRecord is the record of a token family (one login and its refreshes)
// under fam.<id> in the sessions bucket; the bucket's TTL (RefreshTTL)
// removes it once no refresh renewed it.
type famRecord struct {
	User int64 `json:"user"`
	// Gen is the rotation number of the only refresh token that still
	// works (and, for RefreshReuseGrace after At, of its predecessor).
	Gen uint64 `json:"gen"`
	// At is when generation Gen was issued, in Unix nanoseconds: the issue
	// time of its tokens. Tokens are signed claims, so a retry within the
	// reuse grace re-derives generation Gen's tokens from the family, Gen,
	// the epoch and At, byte for byte: the record holds no secret. 0 (a
	// record from before the grace existed): no grace.
	At int64 `json:"at,omitempty"`
	// Req is the hash of the request_id of the refresh that issued
	// generation Gen (requestKey); only a retry with the same request_id
	// gets its tokens again. "" when that refresh had none: no retry.
	Req     string `json:"req,omitempty"`
	Revoked string `json:"revoked,omitempty"` // why: "logout", "reuse"
}

// MaxRequestID bounds the length of Refresh.request_id.
const MaxRequestID = 64

// requestKey is what a family record keeps of a refresh's request_id: a
// SHA-256 in hex, "" for none.
func requestKey(id string) string {
	if id == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

func famKey(f family) string { return "fam." + f.key() }

// errRevoked marks a family that was revoked; errRetried a refresh token
// presented again within the reuse grace of its rotation.
var (
	errRevoked = errors.New("login: token family revoked")
	errRetried = errors.New("login: refresh retried within the grace")
)

// issue starts a token family for a's login and returns its tokens.
func (m *Module) issue(ctx context.Context, a *account) (*loginpb.Tokens, family, error) {
	f, now := newFamily(), m.now()
	b, _ := json.Marshal(famRecord{User: a.ID, At: now.UnixNano()})
	if _, err := m.sessions.Create(ctx, famKey(f), b); err != nil {
		return nil, f, err
	}
	return m.tokens(a, f, 0, now, true), f, nil
}

// tokens signs a session token issued at now and, if refresh, the refresh
// token of generation gen of family f. The same arguments give the same
// tokens (while the signing secret is the same).
func (m *Module) tokens(a *account, f family, gen uint64, now time.Time, refresh bool) *loginpb.Tokens {
	c := claims{Kind: kindSession, User: a.ID, Family: f, Epoch: a.Epoch, Issued: now, Expires: now.Add(m.cfg.TokenTTL)}
	t := &loginpb.Tokens{Token: m.sign.Sign(c), TokenExpiresMs: c.Expires.UnixMilli()}
	if refresh {
		r := claims{Kind: kindRefresh, User: a.ID, Family: f, Gen: gen, Epoch: a.Epoch, Issued: now, Expires: now.Add(m.cfg.RefreshTTL)}
		t.RefreshToken, t.RefreshExpiresMs = m.sign.Sign(r), r.Expires.UnixMilli()
	}
	return t
}

// checkSession verifies a session token: signature, expiry, family not
// revoked, account epoch unchanged, not banned. It returns the account and
// the family.
func (m *Module) checkSession(ctx context.Context, tok string) (*account, family, error) {
	c, err := m.sign.Verify(tok, kindSession)
	if err != nil || !m.now().Before(c.Expires) {
		return nil, c.Family, ErrTokenInvalid
	}
	e, err := m.sessions.Get(ctx, famKey(c.Family))
	if errors.Is(err, store.ErrNotFound) {
		return nil, c.Family, ErrTokenInvalid
	}
	if err != nil {
		return nil, c.Family, err
	}
	var rec famRecord
	if err := json.Unmarshal(e.Value, &rec); err != nil {
		return nil, c.Family, err
	}
	if rec.Revoked != "" || rec.User != c.User {
		return nil, c.Family, ErrTokenInvalid
	}
	a, err := m.getAccount(ctx, c.User)
	if errors.Is(err, store.ErrNotFound) {
		return nil, c.Family, ErrTokenInvalid
	}
	if err != nil {
		return nil, c.Family, err
	}
	if a.Epoch != c.Epoch {
		return nil, c.Family, ErrTokenInvalid
	}
	if err := m.checkBan(a); err != nil {
		return nil, c.Family, err
	}
	return a, c.Family, nil
}

// rotate trades a refresh token for the next generation of its family.
// The token of the previous generation, presented again within
// RefreshReuseGrace of the rotation that replaced it (a client retrying a
// refresh whose answer was lost, or two refreshes racing), gets the
// current generation's tokens again, unchanged and without a write. Any
// other older token revokes the family (the token was copied: whoever
// refreshed first, the other party now holds a dead token) and returns
// ErrTokenReused with the family's user.
func (m *Module) rotate(ctx context.Context, tok, requestID string) (*account, *loginpb.Tokens, family, error) {
	now, req := m.now(), requestKey(requestID)
	c, err := m.sign.Verify(tok, kindRefresh)
	if err != nil || !now.Before(c.Expires) {
		return nil, nil, c.Family, ErrTokenInvalid
	}
	var rec famRecord
	_, err = store.Update(ctx, m.sessions, famKey(c.Family), func(cur []byte, exists bool) ([]byte, error) {
		if !exists {
			return nil, errRevoked
		}
		rec = famRecord{}
		if err := json.Unmarshal(cur, &rec); err != nil {
			return nil, err
		}
		switch {
		case rec.Revoked != "" || rec.User != c.User:
			return nil, errRevoked
		case rec.Gen == c.Gen:
			rec.Gen++
			rec.At, rec.Req = now.UnixNano(), req
		case m.retried(rec, c.Gen, req, now):
			return nil, errRetried // nothing to write: the answer is generation rec.Gen again
		default:
			rec.Revoked = "reuse"
		}
		return json.Marshal(rec)
	})
	switch {
	case errors.Is(err, errRevoked):
		return nil, nil, c.Family, ErrTokenInvalid
	case err != nil && !errors.Is(err, errRetried):
		return nil, nil, c.Family, err
	case rec.Revoked != "":
		return &account{ID: c.User}, nil, c.Family, ErrTokenReused
	}
	a, err := m.getAccount(ctx, c.User)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, c.Family, ErrTokenInvalid
	}
	if err != nil {
		return nil, nil, c.Family, err
	}
	if a.Epoch != c.Epoch {
		return nil, nil, c.Family, ErrTokenInvalid
	}
	if err := m.checkBan(a); err != nil {
		return nil, nil, c.Family, err
	}
	return a, m.tokens(a, c.Family, rec.Gen, time.Unix(0, rec.At), true), c.Family, nil
}

// retried reports whether a refresh token of generation gen, presented at
// now with request key req, retries the rotation that made rec's
// generation: its predecessor, within the reuse grace, with the same
// request_id. The key is what tells a retry from a copy of the token: a
// copy presented by someone else, even in time, carries another key (or
// none), so reuse is still detected.
func (m *Module) retried(rec famRecord, gen uint64, req string, now time.Time) bool {
	grace := m.cfg.RefreshReuseGrace
	return grace > 0 && rec.At != 0 && rec.Gen == gen+1 && req != "" && rec.Req == req &&
		now.Before(time.Unix(0, rec.At).Add(grace))
}

// revokeFamily marks a family revoked; a missing family is not an error.
func (m *Module) revokeFamily(ctx context.Context, f family, why string) error {
	_, err := store.Update(ctx, m.sessions, famKey(f), func(cur []byte, exists bool) ([]byte, error) {
		if !exists {
			return nil, store.ErrNotFound
		}
		var rec famRecord
		if err := json.Unmarshal(cur, &rec); err != nil {
			return nil, err
		}
		if rec.Revoked == "" {
			rec.Revoked = why
		}
		return json.Marshal(rec)
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// RevokeAll revokes every session and refresh token of userID, on every
// device (raising the account's token epoch). It does not disconnect a
// live session: see Ban and Client.Kick.
func (m *Module) RevokeAll(ctx context.Context, userID int64) error {
	if !m.open() {
		return ErrNotOpen
	}
	_, err := m.updateAccount(ctx, userID, func(a *account) error { a.Epoch++; return nil })
	if errors.Is(err, store.ErrNotFound) {
		return errs.ErrDataNotFound.WithMsg("login: no such user")
	}
	return err
}

// VerifyToken checks a session token as TokenLogin does, without logging
// anything in, and returns its user. Other services use it (or the
// internal route) to trust a token a client shows them.
func (m *Module) VerifyToken(ctx context.Context, token string) (*loginpb.User, error) {
	if !m.open() {
		return nil, ErrNotOpen
	}
	a, _, err := m.checkSession(ctx, token)
	if err != nil {
		return nil, err
	}
	return userOf(a, false), nil
}

// userOf renders an account for a client.
func userOf(a *account, created bool) *loginpb.User {
	return &loginpb.User{Id: a.ID, Nickname: a.Nickname, Username: a.Username, Guest: a.guest(), Created: created}
}

// checkBan returns ErrBanned with the reason and the end when a is banned.
func (m *Module) checkBan(a *account) error {
	if b := a.banned(m.now()); b != nil {
		return bannedErr(b)
	}
	return nil
}

func bannedErr(b *ban) *errs.Error {
	until := "for good"
	if b.UntilMs != 0 {
		until = "until " + time.UnixMilli(b.UntilMs).UTC().Format(time.RFC3339)
	}
	reason := b.Reason
	if reason == "" {
		reason = "no reason given"
	}
	return ErrBanned.WithMsg("login: banned " + until + ": " + reason)
}
