package external

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/prometheus/client_golang/prometheus"
)

// WebSocket admission
//
// Config.Authorize runs in the upgrade request's HTTP handler, after the
// check that it is a WebSocket upgrade and before the upgrade: a refused
// client gets a plain HTTP response (401 or 403, a text/plain message) and
// no session, no goroutine and no broker traffic exist for it. An admitted
// client's session starts with the attributes the hook returned, so logic
// servers see them on its first request (Ctx.Attr). TCP and KCP have no
// such step; their gate is the first request, a public login route.

// authTimeout bounds one call of Config.Authorize.
const authTimeout = 5 * time.Second

// refusalLogEvery is the least time between two logs of refused upgrades;
// the refusals between are counted in the next log's "suppressed".
const refusalLogEvery = time.Second

// UpgradeRequest is what Config.Authorize sees of a WebSocket upgrade
// request. The hook may keep none of it after it returns.
type UpgradeRequest struct {
	// RemoteAddr is the client's address as the gate sees it: host:port,
	// or the bare IP a trusted proxy named (Config.TrustedProxies).
	RemoteAddr string
	// Path is the request path (Config.WSPath).
	Path string
	// Query is the parsed query string: browsers cannot set headers on a
	// WebSocket, so a token usually travels here (?token=…).
	Query url.Values
	// Header holds the request headers (Authorization, Cookie, Origin…).
	Header http.Header
}

// AuthError is a refusal by Config.Authorize with its HTTP status and the
// message the client receives as the response body.
type AuthError struct {
	// Status is http.StatusUnauthorized or http.StatusForbidden; another
	// value is sent as 401.
	Status int
	// Msg is the response body; "" sends the status text.
	Msg string
}

// Error returns the message with its status.
func (e *AuthError) Error() string {
	return fmt.Sprintf("external: upgrade refused: %d %s", e.Status, e.Msg)
}

// Unauthorized returns the refusal of a client that did not prove who it
// is (HTTP 401), with msg as the response body.
func Unauthorized(msg string) error { return &AuthError{Status: http.StatusUnauthorized, Msg: msg} }

// Forbidden returns the refusal of a client that is known but not allowed
// in (HTTP 403), with msg as the response body.
func Forbidden(msg string) error { return &AuthError{Status: http.StatusForbidden, Msg: msg} }

// authState counts refused upgrades and limits their logs.
type authState struct {
	unauthorized atomic.Uint64 // 401s
	forbidden    atomic.Uint64 // 403s
	lastLog      atomic.Int64  // unix nanoseconds of the last refusal logged
	suppressed   atomic.Uint64 // refusals not logged since
}

// authorize runs Config.Authorize on the upgrade request in c. It returns
// the session attributes to set, or the *fiber.Error to answer with.
func (s *Server) authorize(c *fiber.Ctx) (map[string]string, error) {
	if s.cfg.Authorize == nil {
		return nil, nil
	}
	r := &UpgradeRequest{
		RemoteAddr: c.Context().RemoteAddr().String(), // a PROXY header's client, if any
		Path:       c.Path(),
		Header:     make(http.Header),
	}
	if ip, ok := c.Locals(localClientIP).(string); ok { // X-Forwarded-For (proxy.go)
		r.RemoteAddr = ip
	}
	r.Query, _ = url.ParseQuery(string(c.Request().URI().QueryString()))
	c.Request().Header.VisitAll(func(k, v []byte) {
		r.Header.Add(string(k), string(v))
	})
	// Not fasthttp's RequestCtx as the parent: its Done races with the
	// server's shutdown (fasthttp v1.58).
	ctx, cancel := context.WithTimeout(context.Background(), authTimeout)
	attrs, err := s.cfg.Authorize(ctx, r)
	cancel()
	if err == nil {
		attrs = maps.Clone(attrs)
		delete(attrs, fabric.AttrIP) // the gate's to set
		var probe sessionCtl
		if err = probe.setAttrs(attrs); err != nil {
			s.log.Error("Authorize returned attributes a session cannot hold: refusing the upgrade",
				"remote", r.RemoteAddr, slog.Any("error", err))
			return nil, fiber.NewError(http.StatusInternalServerError, "bad session attributes")
		}
		return attrs, nil
	}
	status, msg := http.StatusUnauthorized, "unauthorized"
	var ae *AuthError
	if errors.As(err, &ae) {
		if ae.Status == http.StatusForbidden {
			status = ae.Status
		}
		msg = ae.Msg
		if msg == "" {
			msg = http.StatusText(status)
		}
	}
	if status == http.StatusForbidden {
		s.auth.forbidden.Add(1)
	} else {
		s.auth.unauthorized.Add(1)
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="iogo"`)
	}
	s.logRefusal(r.RemoteAddr, status, err)
	return nil, fiber.NewError(status, msg)
}

// logRefusal logs a refused upgrade, at most once per refusalLogEvery.
func (s *Server) logRefusal(remote string, status int, err error) {
	now := time.Now().UnixNano()
	last := s.auth.lastLog.Load()
	if now-last < int64(refusalLogEvery) || !s.auth.lastLog.CompareAndSwap(last, now) {
		s.auth.suppressed.Add(1)
		return
	}
	s.log.Warn("websocket upgrade refused", "remote", remote, "status", status,
		slog.Any("error", err), "suppressed", s.auth.suppressed.Swap(0))
}

// AuthRefused returns how many WebSocket upgrades Config.Authorize has
// refused with 401 and with 403 since the server started.
func (s *Server) AuthRefused() (unauthorized, forbidden uint64) {
	return s.auth.unauthorized.Load(), s.auth.forbidden.Load()
}

var descAuthRefused = prometheus.NewDesc("iogo_gate_auth_refused_total",
	"WebSocket upgrades refused by the Authorize hook, by HTTP status.", []string{"gate", "status"}, nil)

// authCollector exports the refusal counters on /metrics.
type authCollector struct{ s *Server }

func (c authCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descAuthRefused }

func (c authCollector) Collect(ch chan<- prometheus.Metric) {
	u, f := c.s.AuthRefused()
	ch <- prometheus.MustNewConstMetric(descAuthRefused, prometheus.CounterValue, float64(u), c.s.cfg.ID, "401")
	ch <- prometheus.MustNewConstMetric(descAuthRefused, prometheus.CounterValue, float64(f), c.s.cfg.ID, "403")
}

// requestToken returns the token of r: the query parameter "token", or the
// credentials of an "Authorization: Bearer" header.
func requestToken(r *UpgradeRequest) string {
	if t := r.Query.Get("token"); t != "" {
		return t
	}
	h := r.Header.Get("Authorization")
	if scheme, cred, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(cred)
	}
	return ""
}

// BearerToken returns a Config.Authorize hook that admits a request
// carrying one of tokens, in the query (?token=…) or in an
// "Authorization: Bearer …" header, and refuses any other with 401. It sets
// no session attributes. A shared secret for a private test server or an
// internal tool; players get per-user tokens (HMACToken). Tokens are
// compared in constant time.
func BearerToken(tokens ...string) func(context.Context, *UpgradeRequest) (map[string]string, error) {
	sums := make([][32]byte, 0, len(tokens))
	for _, t := range tokens {
		if t != "" {
			sums = append(sums, sha256.Sum256([]byte(t)))
		}
	}
	return func(_ context.Context, r *UpgradeRequest) (map[string]string, error) {
		t := requestToken(r)
		if t == "" {
			return nil, Unauthorized("missing token")
		}
		got := sha256.Sum256([]byte(t))
		ok := 0
		for i := range sums {
			ok |= subtle.ConstantTimeCompare(got[:], sums[i][:])
		}
		if ok == 0 {
			return nil, Unauthorized("invalid token")
		}
		return nil, nil
	}
}

// tokenExpires is the claim of an HMAC token that holds its expiry, in
// Unix seconds.
const tokenExpires = "exp"

// SignToken returns a token for HMACToken(secret): the claims (for example
// "user": "42") and, unless expires is zero, their expiry, signed with
// HMAC-SHA256. The token is URL-safe: base64url(claims in URL-query form),
// a dot, base64url(signature). The claims are readable by anyone holding
// the token: sign who the player is, never secrets. A login service signs
// tokens; the gates check them.
func SignToken(secret []byte, claims map[string]string, expires time.Time) string {
	v := make(url.Values, len(claims)+1)
	for k, x := range claims {
		v.Set(k, x)
	}
	if !expires.IsZero() {
		v.Set(tokenExpires, strconv.FormatInt(expires.Unix(), 10))
	}
	payload := base64.RawURLEncoding.EncodeToString([]byte(v.Encode()))
	return payload + "." + base64.RawURLEncoding.EncodeToString(tokenMAC(secret, payload))
}

func tokenMAC(secret []byte, payload string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// HMACToken returns a Config.Authorize hook that admits a request carrying
// a token made by SignToken with secret (in the query ?token=… or an
// "Authorization: Bearer …" header) and not expired, and sets the token's
// claims, but for the expiry, as the new session's attributes. Any other
// request is refused with 401. now is the clock; nil means time.Now.
func HMACToken(secret []byte, now func() time.Time) func(context.Context, *UpgradeRequest) (map[string]string, error) {
	key := append([]byte(nil), secret...)
	if now == nil {
		now = time.Now
	}
	return func(_ context.Context, r *UpgradeRequest) (map[string]string, error) {
		t := requestToken(r)
		if t == "" {
			return nil, Unauthorized("missing token")
		}
		payload, sig, ok := strings.Cut(t, ".")
		mac, err := base64.RawURLEncoding.DecodeString(sig)
		if !ok || err != nil || !hmac.Equal(mac, tokenMAC(key, payload)) {
			return nil, Unauthorized("invalid token")
		}
		raw, err := base64.RawURLEncoding.DecodeString(payload)
		if err != nil {
			return nil, Unauthorized("invalid token")
		}
		v, err := url.ParseQuery(string(raw))
		if err != nil {
			return nil, Unauthorized("invalid token")
		}
		if e := v.Get(tokenExpires); e != "" {
			exp, err := strconv.ParseInt(e, 10, 64)
			if err != nil || now().Unix() >= exp {
				return nil, Unauthorized("token expired")
			}
		}
		attrs := make(map[string]string, len(v))
		for k := range v {
			if k != tokenExpires {
				attrs[k] = v.Get(k)
			}
		}
		return attrs, nil
	}
}
