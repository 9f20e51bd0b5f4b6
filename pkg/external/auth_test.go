package external

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/client"
)

// rawUpgrade sends a WebSocket upgrade request for target (path and query)
// with extra headers over a plain TCP connection and returns the HTTP
// response status and body.
func rawUpgrade(t *testing.T, addr, target string, hdr map[string]string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	b.WriteString("GET " + target + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
	for k, v := range hdr {
		b.WriteString(k + ": " + v + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := conn.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return resp.StatusCode, ""
	}
	body := make([]byte, 256)
	n, _ := resp.Body.Read(body)
	return resp.StatusCode, string(body[:n])
}

func TestAuthorize(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	serveLogin(t, logic)
	var seen *UpgradeRequest
	g := startGate(t, ns, func(c *Config) {
		c.MetricsAddr = "127.0.0.1:0"
		c.Authorize = func(_ context.Context, r *UpgradeRequest) (map[string]string, error) {
			switch r.Query.Get("token") {
			case "good":
				seen = r
				return map[string]string{"user": "42", "ip": "1.2.3.4"}, nil
			case "banned":
				return nil, Forbidden("you are banned")
			case "broken":
				return nil, errors.New("database down")
			}
			return nil, Unauthorized("")
		}
	})
	addr := g.WSAddr().String()
	tests := []struct {
		name   string
		target string
		status int
		body   string
	}{
		{"no token", "/websocket", 401, "Unauthorized"},
		{"bad token", "/websocket?token=bad", 401, "Unauthorized"},
		{"banned", "/websocket?token=banned", 403, "you are banned"},
		{"hook error", "/websocket?token=broken", 401, "unauthorized"},
		{"good", "/websocket?token=good", 101, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := rawUpgrade(t, addr, tt.target, map[string]string{"X-Test": "yes"})
			if status != tt.status || body != tt.body {
				t.Fatalf("got %d %q, want %d %q", status, body, tt.status, tt.body)
			}
		})
	}
	if u, f := g.AuthRefused(); u != 3 || f != 1 {
		t.Fatalf("refusals 401=%d 403=%d, want 3 and 1", u, f)
	}
	resp, err := http.Get(g.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`iogo_gate_auth_refused_total{gate="` + g.ID() + `",status="401"} 3`,
		`iogo_gate_auth_refused_total{gate="` + g.ID() + `",status="403"} 1`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Fatalf("/metrics has no %s", want)
		}
	}
	waitFor(t, 5*time.Second, func() error {
		if g.Sessions() != 0 {
			return errors.New("a session is open")
		}
		return nil
	})
	if seen.Path != "/websocket" || seen.Header.Get("X-Test") != "yes" || !strings.HasPrefix(seen.RemoteAddr, "127.0.0.1:") {
		t.Fatalf("request %+v", seen)
	}

	// An admitted client's session starts with the hook's attributes; the
	// gate's own "ip" wins.
	c := dialT(t, "ws://"+addr+"/websocket?token=good")
	if got := whoami(t, c).attrs; got != "ip=127.0.0.1&user=42" {
		t.Fatalf("attrs %q", got)
	}
	// TCP has no upgrade: the hook does not apply.
	dialT(t, tcpURL(g))
}

func TestBearerToken(t *testing.T) {
	auth := BearerToken("s3cret", "other")
	tests := []struct {
		name  string
		query string
		hdr   string
		ok    bool
	}{
		{"query", "token=s3cret", "", true},
		{"second token", "token=other", "", true},
		{"header", "", "Bearer s3cret", true},
		{"header, any case", "", "bearer s3cret", true},
		{"none", "", "", false},
		{"wrong", "token=s3cre", "", false},
		{"basic", "", "Basic s3cret", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			r := &UpgradeRequest{Query: q, Header: http.Header{}}
			if tt.hdr != "" {
				r.Header.Set("Authorization", tt.hdr)
			}
			attrs, err := auth(context.Background(), r)
			if (err == nil) != tt.ok || attrs != nil {
				t.Fatalf("got %v, %v", attrs, err)
			}
			var ae *AuthError
			if err != nil && (!errors.As(err, &ae) || ae.Status != 401) {
				t.Fatalf("error %v, want a 401", err)
			}
		})
	}
}

func TestHMACToken(t *testing.T) {
	secret := []byte("k")
	now := time.Unix(1_800_000_000, 0)
	auth := HMACToken(secret, func() time.Time { return now })
	good := SignToken(secret, map[string]string{"user": "42", "name": "a b"}, now.Add(time.Minute))
	tests := []struct {
		name  string
		token string
		want  string // encoded attrs, "" for a refusal
	}{
		{"good", good, "name=a+b&user=42"},
		{"no expiry", SignToken(secret, map[string]string{"user": "7"}, time.Time{}), "user=7"},
		{"expired", SignToken(secret, map[string]string{"user": "42"}, now), ""},
		{"other secret", SignToken([]byte("x"), map[string]string{"user": "42"}, time.Time{}), ""},
		{"tampered", "dXNlcj05" + good[strings.Index(good, "."):], ""},
		{"garbage", "abc", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &UpgradeRequest{Query: url.Values{"token": {tt.token}}, Header: http.Header{}}
			attrs, err := auth(context.Background(), r)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("admitted with %v", attrs)
				}
				return
			}
			if err != nil || encodeAttrs(attrs) != tt.want {
				t.Fatalf("got %v, %v, want %s", attrs, err, tt.want)
			}
		})
	}
}

// The hook composes with the Go client: a token in the URL's query.
func TestAuthorizeClient(t *testing.T) {
	ns := runNATS(t)
	g := startGate(t, ns, func(c *Config) { c.Authorize = BearerToken("t0k") })
	ctx := ctxT(t)
	if c, err := client.Dial(ctx, wsURL(g)); err == nil {
		_ = c.Close()
		t.Fatal("dial without a token succeeded")
	} else if !strings.Contains(err.Error(), "401") {
		t.Fatalf("error %v, want the HTTP status", err)
	}
	dialT(t, wsURL(g)+"?token=t0k")
}
