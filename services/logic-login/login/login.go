// Package login is the bundled login service (service "login", cmd 1): guest
// (device) login, username/password accounts hashed with argon2id, logins
// through the game's own identity providers (Verifier), signed short-lived
// session tokens with rotating refresh tokens, logout and revocation, bans,
// and protections against floods and guessing: failed-login limits per
// client IP and per (username, client IP) with a slow-down of accounts
// under attack, sign-up limits per client IP and global, and a fair,
// bounded queue for password hashes (see docs/modules/login.md).
//
// Every login binds the connection to the user (logic.Ctx.Bind), which
// kicks the user's previous session anywhere with -1007.
//
// State lives in a store.KV (JetStream or Redis, the same code), so any
// number of instances serve the routes together; see docs/modules/login.md
// for the storage layout. A Module that was not opened (Router, the
// package function) serves guest login statelessly, as the first version of
// the service did, and answers the other routes with ErrNotOpen.
//
// Locks: the hash queue, the hot-counter caches and the log throttle each
// have a mutex; none is held while another is taken.
package login

import (
	"context"
	"errors"
	"hash/fnv"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
	loginpb "github.com/iogo-dev/iogo/proto/login"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Service is the service name, and the queue group of its instances.
const Service = "login"

// Cmd is the route cmd of the login service.
const Cmd int32 = 1

// Routes of the login service.
const (
	SubGuest        int32 = 0  // GuestLogin → User; binds the session
	SubWhoAmI       int32 = 1  // Empty → User; needs a logged-in session
	SubRegister     int32 = 2  // Register → User; binds
	SubPassword     int32 = 3  // PasswordLogin → User; binds
	SubCustom       int32 = 4  // CustomLogin → User; binds
	SubToken        int32 = 5  // TokenLogin → User; binds
	SubRefresh      int32 = 6  // Refresh → Tokens
	SubLogout       int32 = 7  // Logout → Empty
	SubLinkPassword int32 = 8  // LinkPassword → User
	SubLinkCustom   int32 = 9  // LinkCustom → User
	SubBan          int32 = 20 // Ban → Empty; internal
	SubUnban        int32 = 21 // Unban → Empty; internal
	SubVerifyToken  int32 = 22 // VerifyToken → User; internal
)

// Errors of the login service (codes 1100-1199, and validation errors).
var (
	// ErrDeviceID, ErrUsername, ErrPassword: a request breaking the
	// buf.validate rule of the field (login.proto) is answered with their
	// code, -1001, and a message naming the field and the rule; errors.Is
	// matches them by that code.
	//
	// ErrDeviceID is a missing or over-long device ID.
	ErrDeviceID = errs.ErrValidation.WithMsg("login: device_id must be 1..128 bytes")
	// ErrUsername is a username that breaks the rules.
	ErrUsername = errs.ErrValidation.WithMsg("login: username must be 3..32 of A-Z a-z 0-9 . _ -")
	// ErrPassword is a password that breaks the rules.
	ErrPassword = errs.ErrValidation.WithMsg("login: password must be 8..128 bytes")
	// ErrNickname is returned for an over-long nickname.
	ErrNickname = errs.ErrValidation.WithMsg("login: nickname must be at most 64 characters")

	// ErrBadCredentials: unknown username or wrong password (the same
	// answer, in the same time, for both).
	ErrBadCredentials = errs.New(1100, "login: wrong username or password")
	// ErrUsernameTaken: another account has the username.
	ErrUsernameTaken = errs.New(1101, "login: username taken")
	// ErrTokenInvalid: a token is malformed, forged, expired or revoked.
	ErrTokenInvalid = errs.New(1102, "login: invalid or expired token")
	// ErrTokenReused: a rotated refresh token was presented again after
	// the reuse grace, or an older one at all; every token of that login
	// is revoked and its session kicked. Log in again.
	ErrTokenReused = errs.New(1103, "login: refresh token reused; the login was revoked")
	// ErrBanned: the account is banned; the message tells until when and why.
	ErrBanned = errs.New(1104, "login: banned")
	// ErrRateLimited: too many failed logins from this IP or for this
	// username; the message ends "retry after Ns" (see RetryAfter).
	ErrRateLimited = errs.New(1105, "login: too many failed attempts")
	// ErrProvider: the identity provider rejected the token.
	ErrProvider = errs.New(1106, "login: the identity provider rejected the token")
	// ErrUnknownProvider: no verifier has the provider's name.
	ErrUnknownProvider = errs.New(1107, "login: unknown identity provider")
	// ErrAlreadyLinked: the account already has a username, or the
	// identity or username belongs to another account.
	ErrAlreadyLinked = errs.New(1108, "login: already linked")
	// ErrDeviceTaken: the device ID's userID belongs to another account
	// (a hash collision; use another device ID).
	ErrDeviceTaken = errs.New(1109, "login: device ID collides with another account")
	// ErrSignupLimited: too many accounts were created from this client
	// IP, or by everyone, in the sign-up window (Config.SignupIP,
	// SignupGlobal, GuestIP, GuestGlobal); the message ends "retry after
	// Ns" (see RetryAfter).
	ErrSignupLimited = errs.New(1110, "login: too many new accounts")
	// ErrBusy: the instance has too many password checks waiting
	// (Config.HashQueue, HashQueueIP) or none got a slot in time
	// (HashWait); nothing was checked or counted. The message ends "retry
	// after Ns" (see RetryAfter).
	ErrBusy = errs.New(1111, "login: busy")
	// ErrNotOpen: the module has no storage (it was not opened).
	ErrNotOpen = errs.ErrSystem.WithMsg("login: storage not opened")
)

// Verifier checks a token of an external identity provider (a platform
// SDK's ticket, an OpenID Connect ID token...). The game implements it and
// registers it under the provider's name (Config.Verifiers,
// Module.SetVerifier). Accounts are keyed by provider and externalID.
//
// Verify returns the user's stable ID at the provider and, optionally, a
// display name. An *errs.Error it returns reaches the client as it is;
// any other error becomes ErrProvider. It may be called concurrently.
type Verifier interface {
	Verify(ctx context.Context, token string) (externalID, name string, err error)
}

// VerifierFunc adapts a function to Verifier.
type VerifierFunc func(ctx context.Context, token string) (externalID, name string, err error)

// Verify calls f.
func (f VerifierFunc) Verify(ctx context.Context, token string) (string, string, error) {
	return f(ctx, token)
}

// Limits of request fields the handlers check; the others are
// buf.validate rules in proto/login/login.proto, checked before a handler
// runs.
const (
	maxNickname   = 64
	maxPassword   = 128
	maxProviderID = 256
	maxExtToken   = 8192
	maxReason     = 256
)

var providerRe = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

func validProvider(s string) bool { return providerRe.MatchString(s) }

// Router returns the routes of a login module that is never opened: guest
// login works without storage (the userID is derived from the device, no
// tokens are issued), WhoAmI works, the other routes answer ErrNotOpen.
// Services with storage use New(cfg).Router() and Open.
func Router() *route.Router { return New(Config{}).routes() }

// Router returns the module's routes; every call returns the same router.
// It implements logic.Module.
func (m *Module) Router() logic.RouteSource { return m.routes() }

func (m *Module) routes() *route.Router {
	m.routeOnce.Do(func() {
		r := route.NewRouter()
		for _, d := range []struct {
			name string
			err  *errs.Error
		}{
			{"DeviceID", ErrDeviceID}, {"Username", ErrUsername}, {"Password", ErrPassword}, {"Nickname", ErrNickname},
			{"BadCredentials", ErrBadCredentials}, {"UsernameTaken", ErrUsernameTaken},
			{"TokenInvalid", ErrTokenInvalid}, {"TokenReused", ErrTokenReused}, {"Banned", ErrBanned},
			{"RateLimited", ErrRateLimited}, {"Provider", ErrProvider}, {"UnknownProvider", ErrUnknownProvider},
			{"AlreadyLinked", ErrAlreadyLinked}, {"DeviceTaken", ErrDeviceTaken},
			{"SignupLimited", ErrSignupLimited}, {"Busy", ErrBusy},
		} {
			r.DeclareError(d.name, d.err)
		}
		g := r.Group(Cmd)
		route.Handle(g, SubGuest, m.guestLogin, route.Public(),
			route.Doc("Logs a device in as a guest (creating its account on first use) and binds the connection to its user; a previous session of the user is kicked (-1007)."))
		route.Handle(g, SubWhoAmI, m.whoAmI, route.Doc("Returns the logged-in user of this connection."))
		route.Handle(g, SubRegister, m.register, route.Public(),
			route.Doc("Creates an account with a username and password, logs it in and returns its tokens."))
		route.Handle(g, SubPassword, m.passwordLogin, route.Public(),
			route.Doc("Logs in with a username and password and returns the session tokens."))
		route.Handle(g, SubCustom, m.customLogin, route.Public(),
			route.Doc("Logs in with a token of a game-configured identity provider; a new identity gets a new account."))
		route.Handle(g, SubToken, m.tokenLogin, route.Public(),
			route.Doc("Resumes a session with a session token (e.g. after a reconnect); returns a fresh session token."))
		route.Handle(g, SubRefresh, m.refresh, route.Public(),
			route.Doc("Trades a refresh token for new tokens; the old refresh token is revoked. Presented again with the same request_id within the reuse grace (a retry) it gets the same new tokens; otherwise, later, or an older token, it revokes the whole login."))
		route.Handle(g, SubLogout, m.logout,
			route.Doc("Revokes the tokens of this login (all: of every login of the user)."))
		route.Handle(g, SubLinkPassword, m.linkPassword,
			route.Doc("Adds a username and password to the logged-in account (e.g. a guest's), keeping its userID."))
		route.Handle(g, SubLinkCustom, m.linkCustom,
			route.Doc("Adds an external identity to the logged-in account."))
		route.Handle(g, SubBan, m.banRoute, route.Internal(),
			route.Doc("Bans a user until a time: revokes the tokens, kicks the live session (-1007), refuses logins."))
		route.Handle(g, SubUnban, m.unbanRoute, route.Internal(), route.Doc("Lifts a user's ban."))
		route.Handle(g, SubVerifyToken, m.verifyRoute, route.Internal(),
			route.Doc("Checks a session token and returns its user, without logging anything in."))
		m.router = r
	})
	return m.router
}

// GuestID derives a guest's userID from its device ID: a positive 63-bit
// FNV-1a hash, stable across instances and restarts.
func GuestID(deviceID string) int64 {
	h := fnv.New64a()
	h.Write([]byte(deviceID))
	id := int64(h.Sum64() >> 1)
	if id == 0 {
		id = 1
	}
	return id
}

// nickname trims a requested nickname and checks its length.
func nickname(s string) (string, error) {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > maxNickname || !utf8.ValidString(s) {
		return "", ErrNickname
	}
	return s, nil
}

// guestLogin logs a device in as a guest and binds the connection to its
// user; a previous session of the user is kicked (-1007).
func (m *Module) guestLogin(c *logic.Ctx, req *loginpb.GuestLogin) (*loginpb.User, error) {
	// device_id's length is checked by its buf.validate rule (login.proto).
	nick, err := nickname(req.Nickname)
	if err != nil {
		return nil, err
	}
	id := GuestID(req.DeviceId)
	if !m.open() {
		if err := c.Bind(id); err != nil {
			return nil, err
		}
		return &loginpb.User{Id: id, Nickname: cmp(nick, "guest"), Guest: true}, nil
	}
	a, created, err := m.guestAccount(c.Context(), clientAddr(c), id, req.DeviceId, nick)
	if err != nil {
		return nil, err
	}
	return m.finish(c, a, created, nil)
}

// cmp returns s, or def when s is empty.
func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (m *Module) whoAmI(c *logic.Ctx, _ *emptypb.Empty) (*loginpb.User, error) {
	if c.UserID() == 0 {
		return nil, errs.ErrLoginRequired
	}
	if !m.open() {
		return &loginpb.User{Id: c.UserID()}, nil
	}
	a, err := m.getAccount(c.Context(), c.UserID())
	if err != nil {
		return nil, err
	}
	return userOf(a, false), nil
}

func (m *Module) register(c *logic.Ctx, req *loginpb.Register) (*loginpb.User, error) {
	if !m.open() {
		return nil, ErrNotOpen
	}
	// username and password are checked by their buf.validate rules.
	nick, err := nickname(req.Nickname)
	if err != nil {
		return nil, err
	}
	ctx, addr, ip := withCallerDeadline(c.Context(), c), clientAddr(c), clientIP(c)
	if err := m.hotSignup(false, addr); err != nil {
		return nil, err
	}
	if m.hash.q.refuses(hashSignup, addr) {
		m.hashErr(errBusy, addr)
		return nil, errBusy
	}
	if err := m.limit.check(ctx, ip, m.cfg.RateIP); err != nil {
		return nil, m.limited(err, addr)
	}
	a, err := m.registerAccount(ctx, addr, req.Username, req.Password, cmp(nick, req.Username))
	if errors.Is(err, ErrUsernameTaken) {
		m.failed(ctx, ip, "") // guessing names is throttled like guessing passwords
	}
	if err != nil {
		return nil, err
	}
	return m.finish(c, a, true, nil)
}

func (m *Module) passwordLogin(c *logic.Ctx, req *loginpb.PasswordLogin) (*loginpb.User, error) {
	if !m.open() {
		return nil, ErrNotOpen
	}
	if len(req.Username) > 64 || len(req.Password) > maxPassword {
		return nil, ErrBadCredentials
	}
	ctx, addr := withCallerDeadline(c.Context(), c), clientAddr(c)
	if m.hash.q.refuses(hashLogin, addr) {
		m.hashErr(errBusy, addr)
		return nil, errBusy
	}
	// The attempt is counted before the password is checked, so that
	// concurrent guesses cannot all pass the limit; one that did not fail
	// is given back. The username's counter is per client address: an
	// attacker's failures do not lock the owner out elsewhere.
	rip, err := m.limit.take(ctx, clientIP(c), m.cfg.RateIP)
	if err != nil {
		return nil, m.limited(err, addr)
	}
	racct, err := m.limit.take(ctx, accountIPKey(req.Username, addr), m.cfg.RateAccount)
	if err != nil {
		m.refund(ctx, rip)
		return nil, m.limited(err, addr)
	}
	a, err := m.authenticate(ctx, addr, req.Username, req.Password)
	if !errors.Is(err, ErrBadCredentials) {
		m.refund(ctx, rip, racct)
	} else {
		m.slowDown(ctx, req.Username)
	}
	if err != nil {
		return nil, err
	}
	return m.finish(c, a, false, nil)
}

// verifyLimited checks an external identity token under the per-IP login
// limit; a token the provider refuses counts as a failed login of the IP.
func (m *Module) verifyLimited(c *logic.Ctx, provider, token string) (extID, name string, err error) {
	ctx, ip := c.Context(), clientIP(c)
	if err := m.limit.check(ctx, ip, m.cfg.RateIP); err != nil {
		return "", "", m.limited(err, clientAddr(c))
	}
	extID, name, err = m.verify(ctx, provider, token)
	if err != nil && !errors.Is(err, ErrUnknownProvider) {
		m.failed(ctx, ip, "")
	}
	return extID, name, err
}

func (m *Module) customLogin(c *logic.Ctx, req *loginpb.CustomLogin) (*loginpb.User, error) {
	if !m.open() {
		return nil, ErrNotOpen
	}
	nick, err := nickname(req.Nickname)
	if err != nil {
		return nil, err
	}
	extID, name, err := m.verifyLimited(c, req.Provider, req.Token)
	if err != nil {
		return nil, err
	}
	a, created, err := m.customAccount(c.Context(), req.Provider, extID, cmp(nick, cmp(name, req.Provider)))
	if err != nil {
		return nil, err
	}
	return m.finish(c, a, created, nil)
}

func (m *Module) tokenLogin(c *logic.Ctx, req *loginpb.TokenLogin) (*loginpb.User, error) {
	if !m.open() {
		return nil, ErrNotOpen
	}
	ctx, ip := c.Context(), clientIP(c)
	if err := m.limit.check(ctx, ip, m.cfg.RateIP); err != nil {
		return nil, m.limited(err, clientAddr(c))
	}
	a, f, err := m.checkSession(ctx, req.Token)
	if errors.Is(err, ErrTokenInvalid) {
		m.failed(ctx, ip, "")
	}
	if err != nil {
		return nil, err
	}
	return m.finish(c, a, false, &f)
}

func (m *Module) refresh(c *logic.Ctx, req *loginpb.Refresh) (*loginpb.Tokens, error) {
	if !m.open() {
		return nil, ErrNotOpen
	}
	ctx, ip := c.Context(), clientIP(c)
	if err := m.limit.check(ctx, ip, m.cfg.RateIP); err != nil {
		return nil, m.limited(err, clientAddr(c))
	}
	a, toks, f, err := m.rotate(ctx, req.RefreshToken, req.RequestId)
	switch {
	case errors.Is(err, ErrTokenReused):
		m.failed(ctx, ip, "")
		m.kickFamily(ctx, a.ID, f, ErrTokenReused.Msg)
		return nil, err
	case errors.Is(err, ErrTokenInvalid):
		m.failed(ctx, ip, "")
	}
	return toks, err
}

func (m *Module) logout(c *logic.Ctx, req *loginpb.Logout) (*emptypb.Empty, error) {
	if !m.open() {
		return nil, ErrNotOpen
	}
	ctx := c.Context()
	if req.All {
		if err := m.RevokeAll(ctx, c.UserID()); err != nil {
			return nil, err
		}
	} else if f, ok := parseFamily(c.Attr(AttrFamily)); ok {
		if err := m.revokeFamily(ctx, f, "logout"); err != nil {
			return nil, err
		}
	}
	// The connection stays, anonymous: routes that need a login refuse it
	// until the next login.
	return &emptypb.Empty{}, c.Unbind()
}

func (m *Module) linkPassword(c *logic.Ctx, req *loginpb.LinkPassword) (*loginpb.User, error) {
	if !m.open() {
		return nil, ErrNotOpen
	}
	// username and password are checked by their buf.validate rules.
	a, err := m.linkUsername(withCallerDeadline(c.Context(), c), clientAddr(c), c.UserID(), req.Username, req.Password)
	if err != nil {
		return nil, err
	}
	return userOf(a, false), nil
}

func (m *Module) linkCustom(c *logic.Ctx, req *loginpb.LinkCustom) (*loginpb.User, error) {
	if !m.open() {
		return nil, ErrNotOpen
	}
	extID, _, err := m.verifyLimited(c, req.Provider, req.Token)
	if err != nil {
		return nil, err
	}
	a, err := m.linkExternal(c.Context(), c.UserID(), req.Provider, extID)
	if err != nil {
		return nil, err
	}
	return userOf(a, false), nil
}

func (m *Module) banRoute(c *logic.Ctx, req *loginpb.Ban) (*emptypb.Empty, error) {
	var until = timeMs(req.UntilMs)
	return &emptypb.Empty{}, m.Ban(c.Context(), req.UserId, req.Reason, until)
}

func (m *Module) unbanRoute(c *logic.Ctx, req *loginpb.Unban) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, m.Unban(c.Context(), req.UserId)
}

func (m *Module) verifyRoute(c *logic.Ctx, req *loginpb.VerifyToken) (*loginpb.User, error) {
	return m.VerifyToken(c.Context(), req.Token)
}
