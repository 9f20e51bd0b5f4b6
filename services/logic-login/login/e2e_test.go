package login

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/store"
	loginpb "github.com/iogo-dev/iogo/proto/login"
	"google.golang.org/protobuf/types/known/emptypb"
)

// The tests in this file run the module behind a real gate and broker and
// talk to it as a game client does, on every store backend.

// e2eTests run on every backend.
var e2eTests = []struct {
	name string
	fn   func(t *testing.T, be backend)
}{
	{"RegisterAndPasswordLogin", testRegisterAndPasswordLogin},
	{"GuestUpgrade", testGuestUpgrade},
	{"CustomLogin", testCustomLogin},
	{"RefreshRotationAndReuse", testRefreshRotationAndReuse},
	{"RefreshReuseGrace", testRefreshReuseGrace},
	{"RefreshConcurrentRetry", testRefreshConcurrentRetry},
	{"RefreshThiefCannotRideAlong", testRefreshThiefCannotRideAlong},
	{"TokenLogin", testTokenLogin},
	{"Logout", testLogout},
	{"Ban", testBan},
	{"RateLimit", testRateLimit},
	{"RateLimitConcurrent", testRateLimitConcurrent},
	{"UserIDsUniqueAcrossInstances", testUserIDsUniqueAcrossInstances},
	{"UserIDHeldByGuest", testUserIDHeldByGuest},
	{"SecretsNotInDebugBlock", testSecretsNotInDebugBlock},
}

func TestE2E(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			for _, tt := range e2eTests {
				t.Run(tt.name, func(t *testing.T) { tt.fn(t, be) })
			}
		})
	}
}

func register(t *testing.T, s *stack, name, password string) (*loginpb.User, error) {
	t.Helper()
	return call[*loginpb.Register, *loginpb.User](t, s.dial(t), SubRegister, &loginpb.Register{Username: name, Password: password})
}

func testRegisterAndPasswordLogin(t *testing.T, be backend) {
	s := startStack(t, be, Config{}, 1)
	c1 := s.dial(t)
	u := mustCall[*loginpb.Register, *loginpb.User](t, c1, SubRegister,
		&loginpb.Register{Username: "Alice", Password: "correct horse", Nickname: "Al"})
	if u.Id != DefaultFirstUserID || !u.Created || u.Guest || u.Username != "Alice" || u.Nickname != "Al" ||
		u.Tokens.GetToken() == "" || u.Tokens.GetRefreshToken() == "" {
		t.Fatalf("register: %v", u)
	}
	me := mustCall[*emptypb.Empty, *loginpb.User](t, c1, SubWhoAmI, &emptypb.Empty{})
	if me.Id != u.Id || me.Username != "Alice" || me.Tokens != nil {
		t.Fatalf("whoami: %v", me)
	}

	tests := []struct {
		name     string
		sub      int32
		user, pw string
		want     *errs.Error
	}{
		{"taken, other case", SubRegister, "ALICE", "another password", ErrUsernameTaken},
		{"bad username", SubRegister, "a b", "another password", ErrUsername},
		{"short password", SubRegister, "bob", "short", ErrPassword},
		{"wrong password", SubPassword, "alice", "wrong horse", ErrBadCredentials},
		{"unknown user", SubPassword, "nobody", "correct horse", ErrBadCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := s.dial(t)
			var err error
			if tt.sub == SubRegister {
				_, err = call[*loginpb.Register, *loginpb.User](t, c, tt.sub, &loginpb.Register{Username: tt.user, Password: tt.pw})
			} else {
				_, err = call[*loginpb.PasswordLogin, *loginpb.User](t, c, tt.sub, &loginpb.PasswordLogin{Username: tt.user, Password: tt.pw})
			}
			wantErr(t, err, tt.want)
		})
	}

	// The right password logs in (any case of the name); the first
	// session is kicked by the duplicate-login policy.
	c2 := s.dial(t)
	u2 := mustCall[*loginpb.PasswordLogin, *loginpb.User](t, c2, SubPassword, &loginpb.PasswordLogin{Username: "alice", Password: "correct horse"})
	if u2.Id != u.Id || u2.Created || u2.Tokens.GetToken() == "" {
		t.Fatalf("login: %v", u2)
	}
	if e := waitKicked(t, c1); e.Code != errs.CodeForcedOffline {
		t.Fatalf("first session: %v", e)
	}
}

func testGuestUpgrade(t *testing.T, be backend) {
	s := startStack(t, be, Config{}, 1)
	c := s.dial(t)
	g := mustCall[*loginpb.GuestLogin, *loginpb.User](t, c, SubGuest, &loginpb.GuestLogin{DeviceId: "dev-1", Nickname: "ann"})
	if g.Id != GuestID("dev-1") || !g.Guest || !g.Created || g.Nickname != "ann" || g.Tokens.GetToken() == "" {
		t.Fatalf("guest: %v", g)
	}
	again := mustCall[*loginpb.GuestLogin, *loginpb.User](t, s.dial(t), SubGuest, &loginpb.GuestLogin{DeviceId: "dev-1"})
	if again.Id != g.Id || again.Created || again.Nickname != "ann" {
		t.Fatalf("second guest login: %v", again)
	}
	waitKicked(t, c)

	c = s.dial(t)
	mustCall[*loginpb.GuestLogin, *loginpb.User](t, c, SubGuest, &loginpb.GuestLogin{DeviceId: "dev-1"})
	linked := mustCall[*loginpb.LinkPassword, *loginpb.User](t, c, SubLinkPassword, &loginpb.LinkPassword{Username: "ann", Password: "ann's password"})
	if linked.Id != g.Id || linked.Guest || linked.Username != "ann" {
		t.Fatalf("linked: %v", linked)
	}
	_, err := call[*loginpb.LinkPassword, *loginpb.User](t, c, SubLinkPassword, &loginpb.LinkPassword{Username: "ann2", Password: "ann's password"})
	wantErr(t, err, ErrAlreadyLinked)
	byName := mustCall[*loginpb.PasswordLogin, *loginpb.User](t, s.dial(t), SubPassword, &loginpb.PasswordLogin{Username: "ann", Password: "ann's password"})
	if byName.Id != g.Id {
		t.Fatalf("password login of the upgraded guest: %v, want id %d", byName, g.Id)
	}
	_, err = register(t, s, "Ann", "some password")
	wantErr(t, err, ErrUsernameTaken)
}

// testVerifier accepts tokens "ok:<id>:<name>".
var testVerifier = VerifierFunc(func(_ context.Context, tok string) (string, string, error) {
	id, name, ok := strings.Cut(strings.TrimPrefix(tok, "ok:"), ":")
	if !strings.HasPrefix(tok, "ok:") || !ok {
		return "", "", errors.New("bad token")
	}
	return id, name, nil
})

func testCustomLogin(t *testing.T, be backend) {
	s := startStack(t, be, Config{Verifiers: map[string]Verifier{"acme": testVerifier}}, 1)
	custom := func(provider, tok string) (*loginpb.User, error) {
		return call[*loginpb.CustomLogin, *loginpb.User](t, s.dial(t), SubCustom, &loginpb.CustomLogin{Provider: provider, Token: tok})
	}
	u := mustUser(t)(custom("acme", "ok:x1:Xena"))
	if !u.Created || u.Nickname != "Xena" || u.Guest || u.Id != DefaultFirstUserID {
		t.Fatalf("first custom login: %v", u)
	}
	u2 := mustUser(t)(custom("acme", "ok:x1:Renamed"))
	if u2.Id != u.Id || u2.Created || u2.Nickname != "Xena" {
		t.Fatalf("second custom login: %v", u2)
	}
	_, err := custom("acme", "forged")
	wantErr(t, err, ErrProvider)
	_, err = custom("nope", "ok:x1:Xena")
	wantErr(t, err, ErrUnknownProvider)

	// A guest links an identity; another identity's owner cannot take it.
	c := s.dial(t)
	g := mustCall[*loginpb.GuestLogin, *loginpb.User](t, c, SubGuest, &loginpb.GuestLogin{DeviceId: "dev-x"})
	l := mustCall[*loginpb.LinkCustom, *loginpb.User](t, c, SubLinkCustom, &loginpb.LinkCustom{Provider: "acme", Token: "ok:x2:"})
	if l.Id != g.Id || l.Guest {
		t.Fatalf("link: %v", l)
	}
	if u3 := mustUser(t)(custom("acme", "ok:x2:")); u3.Id != g.Id {
		t.Fatalf("login by linked identity: %v, want %d", u3, g.Id)
	}
	c = s.dial(t)
	mustCall[*loginpb.GuestLogin, *loginpb.User](t, c, SubGuest, &loginpb.GuestLogin{DeviceId: "dev-y"})
	_, err = call[*loginpb.LinkCustom, *loginpb.User](t, c, SubLinkCustom, &loginpb.LinkCustom{Provider: "acme", Token: "ok:x1:"})
	wantErr(t, err, ErrAlreadyLinked)
}

func testRefreshRotationAndReuse(t *testing.T, be backend) {
	s := startStack(t, be, Config{}, 2) // rotations alternate between instances
	mustUser(t)(register(t, s, "carol", "carol's password"))
	c := s.dial(t)
	u := mustCall[*loginpb.PasswordLogin, *loginpb.User](t, c, SubPassword, &loginpb.PasswordLogin{Username: "carol", Password: "carol's password"})
	refresh := func(tok string) (*loginpb.Tokens, error) {
		return call[*loginpb.Refresh, *loginpb.Tokens](t, s.dial(t), SubRefresh, &loginpb.Refresh{RefreshToken: tok})
	}
	r1 := u.Tokens.RefreshToken
	t2 := mustTokens(t)(refresh(r1))
	t3 := mustTokens(t)(refresh(t2.RefreshToken))
	if t2.RefreshToken == r1 || t3.RefreshToken == t2.RefreshToken || t3.Token == "" {
		t.Fatal("refresh did not rotate")
	}
	// The refreshed session token resumes the session.
	mustCall[*loginpb.TokenLogin, *loginpb.User](t, s.dial(t), SubToken, &loginpb.TokenLogin{Token: t3.Token})
	waitKicked(t, c)

	// Resume on a connection, then present an old refresh token: the whole
	// family is revoked and the session that used it is kicked.
	live := s.dial(t)
	mustCall[*loginpb.TokenLogin, *loginpb.User](t, live, SubToken, &loginpb.TokenLogin{Token: t3.Token})
	_, err := refresh(r1)
	wantErr(t, err, ErrTokenReused)
	if e := waitKicked(t, live); e.Code != errs.CodeForcedOffline {
		t.Fatalf("live session: %v", e)
	}
	_, err = refresh(t3.RefreshToken)
	wantErr(t, err, ErrTokenInvalid)
	_, err = call[*loginpb.TokenLogin, *loginpb.User](t, s.dial(t), SubToken, &loginpb.TokenLogin{Token: t3.Token})
	wantErr(t, err, ErrTokenInvalid)
	// A new login is a new family and works.
	u = mustCall[*loginpb.PasswordLogin, *loginpb.User](t, s.dial(t), SubPassword, &loginpb.PasswordLogin{Username: "carol", Password: "carol's password"})
	mustTokens(t)(refresh(u.Tokens.RefreshToken))
}

// testRefreshReuseGrace presents a rotated refresh token again, as a
// client does that retries a refresh whose answer was lost. Within the
// grace it gets the successor tokens again and its session stays; later,
// strict, or an older token, it is reuse: the login is revoked and its
// session kicked.
func testRefreshReuseGrace(t *testing.T, be backend) {
	const grace = 20 * time.Second
	const (
		sameID  = iota // the retry sends the request_id of the refresh it retries
		otherID        // another one: a copy of the token in other hands
		noID           // none
	)
	tests := []struct {
		name  string
		grace time.Duration // Config.RefreshReuseGrace
		back  int           // the retried token is this many rotations old
		wait  time.Duration // between the last rotation and the retry
		id    int           // the retry's request_id
		reuse bool          // the retry is reuse
	}{
		{"retry within grace", grace, 1, grace - time.Millisecond, sameID, false},
		{"retry at once", grace, 1, 0, sameID, false},
		{"retry at the end of the grace", grace, 1, grace, sameID, true},
		{"retry after grace", grace, 1, grace + time.Second, sameID, true},
		{"grandparent within grace", grace, 2, 0, sameID, true},
		{"default grace", 0, 1, DefaultRefreshReuseGrace - time.Millisecond, sameID, false},
		{"strict", -1, 1, 0, sameID, true},
		{"copy with another request_id within grace", grace, 1, 0, otherID, true},
		{"copy without request_id within grace", grace, 1, 0, noID, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startStack(t, be, Config{RefreshReuseGrace: tt.grace}, 2) // calls land on either instance
			refresh := func(tok, id string) (*loginpb.Tokens, error) {
				return call[*loginpb.Refresh, *loginpb.Tokens](t, s.dial(t), SubRefresh, &loginpb.Refresh{RefreshToken: tok, RequestId: id})
			}
			live := s.dial(t)
			u := mustCall[*loginpb.GuestLogin, *loginpb.User](t, live, SubGuest, &loginpb.GuestLogin{DeviceId: "dev-g"})
			// Rotation i trades toks[i], sending ids[i], for toks[i+1].
			toks, ids := []*loginpb.Tokens{u.Tokens}, []string{}
			for i := range tt.back {
				ids = append(ids, fmt.Sprintf("req-%d", i))
				toks = append(toks, mustTokens(t)(refresh(toks[i].RefreshToken, ids[i])))
			}
			cur := toks[len(toks)-1]
			s.clock.Advance(tt.wait)

			old := len(toks) - 1 - tt.back
			id := map[int]string{sameID: ids[old], otherID: "someone-else", noID: ""}[tt.id]
			got, err := refresh(toks[old].RefreshToken, id)
			if tt.reuse {
				wantErr(t, err, ErrTokenReused)
				if e := waitKicked(t, live); e.Code != errs.CodeForcedOffline {
					t.Fatalf("live session: %v", e)
				}
				_, err = refresh(cur.RefreshToken, "next")
				wantErr(t, err, ErrTokenInvalid)
				return
			}
			if err != nil {
				t.Fatalf("retry: %v", err)
			}
			if got.RefreshToken != cur.RefreshToken || got.Token != cur.Token ||
				got.RefreshExpiresMs != cur.RefreshExpiresMs || got.TokenExpiresMs != cur.TokenExpiresMs {
				t.Fatalf("retry got %v, want the first refresh's tokens %v", got, cur)
			}
			// The session stays (a reuse would have kicked it before
			// answering), and the login is still one chain: the
			// successor rotates, after which the retried token is reuse.
			if me := mustCall[*emptypb.Empty, *loginpb.User](t, live, SubWhoAmI, &emptypb.Empty{}); me.Id != u.Id {
				t.Fatalf("whoami: %v", me)
			}
			mustCall[*loginpb.TokenLogin, *loginpb.User](t, s.dial(t), SubToken, &loginpb.TokenLogin{Token: got.Token})
			next := mustTokens(t)(refresh(got.RefreshToken, "next"))
			_, err = refresh(toks[old].RefreshToken, id)
			wantErr(t, err, ErrTokenReused)
			_, err = refresh(next.RefreshToken, "after")
			wantErr(t, err, ErrTokenInvalid)
		})
	}
}

// testRefreshThiefCannotRideAlong: a copy of a refresh token presented by
// someone else right after each of the owner's refreshes (within the
// grace, but with its own request_id) is reuse at the first try, not a
// retry that keeps the copy in step with the owner.
func testRefreshThiefCannotRideAlong(t *testing.T, be backend) {
	s := startStack(t, be, Config{}, 2)
	live := s.dial(t)
	u := mustCall[*loginpb.GuestLogin, *loginpb.User](t, live, SubGuest, &loginpb.GuestLogin{DeviceId: "dev-thief"})
	stolen := u.Tokens.RefreshToken
	// A request_id over the limit is refused before the token is spent.
	_, err := call[*loginpb.Refresh, *loginpb.Tokens](t, s.dial(t), SubRefresh,
		&loginpb.Refresh{RefreshToken: stolen, RequestId: strings.Repeat("x", MaxRequestID+1)})
	wantErr(t, err, errs.ErrValidation)
	mustCall[*loginpb.Refresh, *loginpb.Tokens](t, s.dial(t), SubRefresh, &loginpb.Refresh{RefreshToken: stolen, RequestId: "owner-1"})
	s.clock.Advance(time.Second)
	_, err = call[*loginpb.Refresh, *loginpb.Tokens](t, s.dial(t), SubRefresh, &loginpb.Refresh{RefreshToken: stolen, RequestId: "thief-1"})
	wantErr(t, err, ErrTokenReused)
	if e := waitKicked(t, live); e.Code != errs.CodeForcedOffline {
		t.Fatalf("live session: %v", e)
	}
}

// testRefreshConcurrentRetry sends one refresh token with one request_id
// several times at once, on different connections and instances: one
// request rotates, the others are retries within the grace, and all get
// the same successor. Sent with different request_ids, the same race is
// reuse: the login is revoked.
func testRefreshConcurrentRetry(t *testing.T, be backend) {
	const n = 6
	for _, tt := range []struct {
		name  string
		ids   func(i int) string
		reuse bool
	}{
		{"same request_id", func(int) string { return "one-refresh" }, false},
		{"different request_ids", func(i int) string { return fmt.Sprintf("client-%d", i) }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := startStack(t, be, Config{}, 2)
			live := s.dial(t)
			u := mustCall[*loginpb.GuestLogin, *loginpb.User](t, live, SubGuest, &loginpb.GuestLogin{DeviceId: "dev-c"})
			clients := make([]*client.Client, n)
			for i := range clients {
				clients[i] = s.dial(t)
			}
			got := make([]*loginpb.Tokens, n)
			errl := make([]error, n)
			var wg sync.WaitGroup
			for i, c := range clients {
				wg.Go(func() {
					got[i], errl[i] = call[*loginpb.Refresh, *loginpb.Tokens](t, c, SubRefresh,
						&loginpb.Refresh{RefreshToken: u.Tokens.RefreshToken, RequestId: tt.ids(i)})
				})
			}
			wg.Wait()
			if tt.reuse {
				reused := 0
				for _, err := range errl {
					var e *errs.Error
					if errors.As(err, &e) && e.Code == ErrTokenReused.Code {
						reused++
					}
				}
				if reused == 0 {
					t.Fatalf("no refresh was reuse: %v", errl)
				}
				if e := waitKicked(t, live); e.Code != errs.CodeForcedOffline {
					t.Fatalf("live session: %v", e)
				}
				return
			}
			for i, err := range errl {
				if err != nil {
					t.Fatalf("refresh %d: %v", i, err)
				}
			}
			for i, tk := range got[1:] {
				if tk.RefreshToken != got[0].RefreshToken || tk.Token != got[0].Token {
					t.Fatalf("refresh %d got other tokens than refresh 0", i+1)
				}
			}
			if got[0].RefreshToken == u.Tokens.RefreshToken {
				t.Fatal("refresh did not rotate")
			}
			mustCall[*emptypb.Empty, *loginpb.User](t, live, SubWhoAmI, &emptypb.Empty{})
			mustCall[*loginpb.Refresh, *loginpb.Tokens](t, s.dial(t), SubRefresh, &loginpb.Refresh{RefreshToken: got[0].RefreshToken})
		})
	}
}

func testTokenLogin(t *testing.T, be backend) {
	s := startStack(t, be, Config{}, 1)
	u := mustCall[*loginpb.GuestLogin, *loginpb.User](t, s.dial(t), SubGuest, &loginpb.GuestLogin{DeviceId: "dev-t"})
	tok := u.Tokens.Token
	tampered := []byte(tok)
	tampered[3] ^= 1
	tests := []struct {
		name string
		tok  string
		want *errs.Error
	}{
		{"valid", tok, nil},
		{"tampered", string(tampered), ErrTokenInvalid},
		{"refresh token as session token", u.Tokens.RefreshToken, ErrTokenInvalid},
		{"garbage", "x.y", ErrTokenInvalid},
		{"empty", "", ErrTokenInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := call[*loginpb.TokenLogin, *loginpb.User](t, s.dial(t), SubToken, &loginpb.TokenLogin{Token: tt.tok})
			if tt.want != nil {
				wantErr(t, err, tt.want)
				return
			}
			if err != nil || got.Id != u.Id || got.Tokens.GetToken() == "" || got.Tokens.GetRefreshToken() != "" {
				t.Fatalf("got %v, %v", got, err)
			}
		})
	}
	s.clock.Advance(DefaultTokenTTL + time.Second)
	_, err := call[*loginpb.TokenLogin, *loginpb.User](t, s.dial(t), SubToken, &loginpb.TokenLogin{Token: tok})
	wantErr(t, err, ErrTokenInvalid)
	// The refresh token outlives the session token.
	mustCall[*loginpb.Refresh, *loginpb.Tokens](t, s.dial(t), SubRefresh, &loginpb.Refresh{RefreshToken: u.Tokens.RefreshToken})
}

func testLogout(t *testing.T, be backend) {
	s := startStack(t, be, Config{}, 2)
	mustUser(t)(register(t, s, "dave", "dave's password"))
	login := func() (*loginpb.User, *client.Client) {
		c := s.dial(t)
		return mustCall[*loginpb.PasswordLogin, *loginpb.User](t, c, SubPassword, &loginpb.PasswordLogin{Username: "dave", Password: "dave's password"}), c
	}
	tokenOK := func(tok string) error {
		_, err := call[*loginpb.TokenLogin, *loginpb.User](t, s.dial(t), SubToken, &loginpb.TokenLogin{Token: tok})
		return err
	}

	phone, _ := login()
	pc, c := login()
	mustCall[*loginpb.Logout, *emptypb.Empty](t, c, SubLogout, &loginpb.Logout{})
	wantErr(t, tokenOK(pc.Tokens.Token), ErrTokenInvalid)
	// The connection is open and anonymous again.
	_, err := call[*emptypb.Empty, *loginpb.User](t, c, SubWhoAmI, &emptypb.Empty{})
	wantErr(t, err, errs.ErrLoginRequired)
	_, err = call[*loginpb.Refresh, *loginpb.Tokens](t, s.dial(t), SubRefresh, &loginpb.Refresh{RefreshToken: pc.Tokens.RefreshToken})
	wantErr(t, err, ErrTokenInvalid)
	if err := tokenOK(phone.Tokens.Token); err != nil {
		t.Fatalf("another login's token after logout: %v", err)
	}

	_, c = login()
	mustCall[*loginpb.Logout, *emptypb.Empty](t, c, SubLogout, &loginpb.Logout{All: true})
	wantErr(t, tokenOK(phone.Tokens.Token), ErrTokenInvalid)
	_, err = call[*loginpb.Refresh, *loginpb.Tokens](t, s.dial(t), SubRefresh, &loginpb.Refresh{RefreshToken: phone.Tokens.RefreshToken})
	wantErr(t, err, ErrTokenInvalid)
}

func testBan(t *testing.T, be backend) {
	s := startStack(t, be, Config{}, 2)
	u := mustUser(t)(register(t, s, "eve", "eve's password"))
	c := s.dial(t)
	mustCall[*loginpb.TokenLogin, *loginpb.User](t, c, SubToken, &loginpb.TokenLogin{Token: u.Tokens.Token})

	// Clients cannot reach the internal route.
	_, err := call[*loginpb.Ban, *emptypb.Empty](t, c, SubBan, &loginpb.Ban{UserId: u.Id, Reason: "self"})
	wantErr(t, err, errs.ErrRouteNotFound)

	// An admin tool (another server) bans through the internal route.
	until := s.clock.Now().Add(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = logic.Call[*loginpb.Ban, *emptypb.Empty](ctx, s.srvs[1].Client(), Cmd, SubBan,
		&loginpb.Ban{UserId: u.Id, Reason: "cheating", UntilMs: until.UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	if e := waitKicked(t, c); e.Code != errs.CodeForcedOffline || !strings.Contains(e.Msg, "cheating") {
		t.Fatalf("kick notice: %v", e)
	}
	pw := &loginpb.PasswordLogin{Username: "eve", Password: "eve's password"}
	_, err = call[*loginpb.PasswordLogin, *loginpb.User](t, s.dial(t), SubPassword, pw)
	wantErr(t, err, ErrBanned)
	if m := errs.From(err).Msg; !strings.Contains(m, "cheating") || !strings.Contains(m, until.UTC().Format(time.RFC3339)) {
		t.Fatalf("banned message %q lacks the reason or the end", m)
	}
	_, err = call[*loginpb.TokenLogin, *loginpb.User](t, s.dial(t), SubToken, &loginpb.TokenLogin{Token: u.Tokens.Token})
	wantErr(t, err, ErrTokenInvalid)
	_, err = call[*loginpb.Refresh, *loginpb.Tokens](t, s.dial(t), SubRefresh, &loginpb.Refresh{RefreshToken: u.Tokens.RefreshToken})
	wantErr(t, err, ErrTokenInvalid)

	s.clock.Advance(time.Hour)
	mustCall[*loginpb.PasswordLogin, *loginpb.User](t, s.dial(t), SubPassword, pw)

	// The Go API bans for good; Unban lifts it.
	if err := s.mods[0].Ban(ctx, u.Id, "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	_, err = call[*loginpb.PasswordLogin, *loginpb.User](t, s.dial(t), SubPassword, pw)
	wantErr(t, err, ErrBanned)
	if err := s.mods[1].Unban(ctx, u.Id); err != nil {
		t.Fatal(err)
	}
	mustCall[*loginpb.PasswordLogin, *loginpb.User](t, s.dial(t), SubPassword, pw)
	if err := s.mods[0].Ban(ctx, 424242, "x", time.Time{}); !errors.Is(err, errs.ErrDataNotFound) {
		t.Fatalf("ban of an unknown user: %v", err)
	}
}

func testRateLimit(t *testing.T, be backend) {
	s := startStack(t, be, Config{RateIP: 4, RateAccount: 2, RateWindow: time.Minute}, 2)
	mustUser(t)(register(t, s, "frank", "frank's password"))
	pw := func(name, password string) error {
		_, err := call[*loginpb.PasswordLogin, *loginpb.User](t, s.dial(t), SubPassword, &loginpb.PasswordLogin{Username: name, Password: password})
		return err
	}
	// Two failures lock the username for this IP (every client of the
	// stack is 127.0.0.1), even for the right password; other addresses
	// are not locked (TestNoLockout).
	wantErr(t, pw("frank", "guess 1"), ErrBadCredentials)
	wantErr(t, pw("frank", "guess 2"), ErrBadCredentials)
	err := pw("frank", "frank's password")
	wantErr(t, err, ErrRateLimited)
	if d, ok := RetryAfter(err); !ok || d <= 0 || d > time.Minute {
		t.Fatalf("retry after %v %v (%v)", d, ok, err)
	}
	// Two more failures on other names lock the IP (4 per window).
	wantErr(t, pw("grace", "guess"), ErrBadCredentials)
	wantErr(t, pw("heidi", "guess"), ErrBadCredentials)
	wantErr(t, pw("ivan", "guess"), ErrRateLimited)
	_, err = call[*loginpb.TokenLogin, *loginpb.User](t, s.dial(t), SubToken, &loginpb.TokenLogin{Token: "x.y"})
	wantErr(t, err, ErrRateLimited)
	// Guest logins cannot fail, so they are not limited.
	mustCall[*loginpb.GuestLogin, *loginpb.User](t, s.dial(t), SubGuest, &loginpb.GuestLogin{DeviceId: "dev-r"})

	s.clock.Advance(time.Minute)
	if err := pw("frank", "frank's password"); err != nil {
		t.Fatalf("next window: %v", err)
	}
}

// testRateLimitConcurrent sends many wrong passwords for one username at
// once: no more than the limit may be checked, however the requests
// interleave.
func testRateLimitConcurrent(t *testing.T, be backend) {
	const limit, guesses = 3, 24
	s := startStack(t, be, Config{RateIP: -1, RateAccount: limit, RateWindow: time.Minute}, 2)
	mustUser(t)(register(t, s, "judy", "judy's password"))
	clients := make([]*client.Client, guesses)
	for i := range clients {
		clients[i] = s.dial(t)
	}
	errc := make(chan error, guesses)
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			_, err := call[*loginpb.PasswordLogin, *loginpb.User](t, c, SubPassword,
				&loginpb.PasswordLogin{Username: "judy", Password: fmt.Sprintf("guess %d", i)})
			errc <- err
		})
	}
	wg.Wait()
	close(errc)
	checked := 0
	for err := range errc {
		switch {
		case errors.Is(err, ErrBadCredentials):
			checked++
		case !errors.Is(err, ErrRateLimited):
			t.Fatalf("guess: %v", err)
		}
	}
	if checked > limit {
		t.Fatalf("%d guesses were checked, want at most %d", checked, limit)
	}
	// A right password after a refused one still counts nothing.
	s.clock.Advance(time.Minute)
	mustCall[*loginpb.PasswordLogin, *loginpb.User](t, s.dial(t), SubPassword, &loginpb.PasswordLogin{Username: "judy", Password: "judy's password"})
	for i := range limit {
		_, err := call[*loginpb.PasswordLogin, *loginpb.User](t, s.dial(t), SubPassword, &loginpb.PasswordLogin{Username: "judy", Password: fmt.Sprintf("again %d", i)})
		wantErr(t, err, ErrBadCredentials)
	}
}

// testUserIDHeldByGuest registers after a guest took the next counter
// ID (a device ID can be chosen to hash to it): the account gets the next
// free ID instead of failing with "username taken".
func testUserIDHeldByGuest(t *testing.T, be backend) {
	s := startStack(t, be, Config{FirstUserID: 500}, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := s.st.Open(ctx, store.Bucket{Name: BucketAccounts})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, userKey(500), []byte(`{"id":500,"device":"crafted","created_ms":1}`)); err != nil {
		t.Fatal(err)
	}
	u := mustUser(t)(register(t, s, "karl", "karl's password"))
	if u.Id != 501 {
		t.Fatalf("registered id %d, want 501", u.Id)
	}
}

func testUserIDsUniqueAcrossInstances(t *testing.T, be backend) {
	const n = 24
	s := startStack(t, be, Config{SignupIP: -1, HashQueueIP: n}, 3) // n sign-ups at once from one address
	ids := make([]int64, n)
	var wg sync.WaitGroup
	errc := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := client.Dial(ctx, s.url)
			if err != nil {
				errc <- err
				return
			}
			defer c.Close()
			u, err := client.Call[*loginpb.Register, *loginpb.User](ctx, c, Cmd, SubRegister,
				&loginpb.Register{Username: fmt.Sprintf("user%02d", i), Password: "a password"})
			if err != nil {
				errc <- err
				return
			}
			ids[i] = u.Id
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	slices.Sort(ids)
	for i, id := range ids {
		if id != DefaultFirstUserID+int64(i) {
			t.Fatalf("ids %v: not %d consecutive from %d", ids, n, DefaultFirstUserID)
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSecretsNotInDebugBlock runs the routes that carry secrets with the
// debug block on and checks that no secret is printed.
func testSecretsNotInDebugBlock(t *testing.T, be backend) {
	var out lockedBuffer
	s := startStack(t, be, Config{}, 1, func(c *logic.Config) { c.Debug = &logic.DebugConfig{Writer: &out} })
	const pw = "s3cret-password"
	u := mustUser(t)(register(t, s, "judy", pw))
	c := s.dial(t)
	mustCall[*loginpb.PasswordLogin, *loginpb.User](t, c, SubPassword, &loginpb.PasswordLogin{Username: "judy", Password: pw})
	mustCall[*loginpb.Refresh, *loginpb.Tokens](t, c, SubRefresh, &loginpb.Refresh{RefreshToken: u.Tokens.RefreshToken})
	mustCall[*loginpb.GuestLogin, *loginpb.User](t, s.dial(t), SubGuest, &loginpb.GuestLogin{DeviceId: "secret-device"})
	got := out.String()
	if n := strings.Count(got, "iogo debug"); n != 4 {
		t.Fatalf("%d debug blocks, want 4:\n%s", n, got)
	}
	for _, secret := range []string{pw, u.Tokens.Token, u.Tokens.RefreshToken, "secret-device"} {
		if strings.Contains(got, secret) {
			t.Fatalf("debug block shows a secret %q:\n%s", secret, got)
		}
	}
	if !strings.Contains(got, "[redacted]") || !strings.Contains(got, "judy") {
		t.Fatalf("debug blocks:\n%s", got)
	}
}
