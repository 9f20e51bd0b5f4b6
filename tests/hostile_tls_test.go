package tests

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/external"
	"github.com/iogo-dev/iogo/pkg/wire"
)

// A gate on the internet: TLS on WebSocket and TCP (self-signed and from
// certificate files), the pre-upgrade token check, and external-region
// actions called by a logic server on every gate. Real processes: broker,
// testsvc and the external binary.

// Routes of testsvc cmd 31 (tests/testsvc/region.go).
const (
	cmdRegion        = 31
	regionSessions   = 0 // → []string "gate=sessions"
	regionMine       = 1 // → int64 sessions on the caller's gate
	regionAllBizCode = 2 // int32 bizCode → []string "gate=code"
	cmdBasicsInst    = 20
	basicsInstance   = 0 // → the serving instance's ID
)

// tlsBrokerSvc runs a broker and one testsvc instance and returns the
// broker's URL.
func tlsBrokerSvc(t *testing.T) string {
	t.Helper()
	b := startProc(t, "broker", "broker", "-host", "127.0.0.1", "-port", "-1", "-store", t.TempDir())
	url := b.ready["nats"]
	startProc(t, "testsvc", "logic", "-brokers", url, "-id", "svc-1")
	return url
}

// tlsGate runs the external binary on random loopback ports for
// WebSocket and TCP with extra flags.
func tlsGate(t *testing.T, broker string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"-brokers", broker, "-ws", "127.0.0.1:0", "-tcp", "127.0.0.1:0", "-rate", "-1"}, extra...)
	return startProc(t, "external", "external", args...)
}

// tlsDial connects a pkg/client and closes it when the test ends.
func tlsDial(t *testing.T, url string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.Dial(deadline(t), url, opts...)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// tlsCall sends a bare-value request to route (cmd, sub) and decodes a
// bare-value response; an error status fails the test.
func tlsCall[Req, Resp any](t *testing.T, c *client.Client, cmd, sub int32, req Req) Resp {
	t.Helper()
	in, err := wire.ValueOf[Req]()
	if err != nil {
		t.Fatal(err)
	}
	out, err := wire.ValueOf[Resp]()
	if err != nil {
		t.Fatal(err)
	}
	data, err := in.Append(nil, wire.Protobuf{}, req)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Request(deadline(t), cmd, sub, data)
	if err != nil {
		t.Fatalf("%d-%d: %v", cmd, sub, err)
	}
	if resp.Status != 0 {
		t.Fatalf("%d-%d: status %d %q", cmd, sub, resp.Status, resp.ValidMsg)
	}
	v, err := out.Unmarshal(resp.Data, wire.Protobuf{})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// tlsWaitRoute polls until route (cmd, sub) answers c with anything but
// route-not-found: a gate's route view may trail its ready line.
func tlsWaitRoute(t *testing.T, c *client.Client, cmd, sub int32) {
	t.Helper()
	end := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.Request(deadline(t), cmd, sub, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != errs.CodeRouteNotFound {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("route %d-%d never served", cmd, sub)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tlsPlaintextRefused sends a plaintext heartbeat frame and an HTTP request
// line to addr and checks that the server closes the connection without
// answering either in plaintext.
func tlsPlaintextRefused(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	frame, _ := wire.AppendFrame(nil, wire.Protobuf{}, &wire.Message{CmdCode: wire.CmdHeartbeat, MsgID: 1})
	_, _ = conn.Write(frame)
	_, _ = conn.Write([]byte("GET /websocket HTTP/1.1\r\nHost: x\r\n\r\n"))
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got bytes.Buffer
	_, err = got.ReadFrom(conn) // until the server closes
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: a plaintext client was left hanging (read %q)", addr, got.Bytes())
	}
	b := got.Bytes()
	if bytes.Contains(b, []byte("HTTP/")) {
		t.Fatalf("%s: plaintext HTTP answer %q", addr, b)
	}
	// A plaintext heartbeat answer would be a frame: a 4-byte length and
	// the envelope. A TLS alert starts with record type 0x15.
	if len(b) >= 4 && b[0] != 0x15 && int(binary.BigEndian.Uint32(b)) == len(b)-4 {
		t.Fatalf("%s: plaintext frame answer %x", addr, b)
	}
}

// TestHostileTLSSelfSigned: the external binary with -tls-self-signed
// serves wss:// and tls://, prints the certificate's fingerprint, and a
// client pinning it round-trips a request through a logic server. A
// plaintext client on either port is closed without an answer, and the
// TLS sessions are unharmed. On main there is no -tls-self-signed flag:
// the gate exits with a usage error and the test fails at its start.
func TestHostileTLSSelfSigned(t *testing.T) {
	broker := tlsBrokerSvc(t)
	g := tlsGate(t, broker, "-tls-self-signed")
	wss, tlsURL, fp := g.ready["ws"], g.ready["tcp"], g.ready["sha256"]
	if !strings.HasPrefix(wss, "wss://") || !strings.HasPrefix(tlsURL, "tls://") || len(fp) != 64 {
		t.Fatalf("ready line %v: want wss://, tls:// and a sha256", g.ready)
	}
	pin, err := client.PinnedTLS(fp)
	if err != nil {
		t.Fatal(err)
	}
	var clients []*client.Client
	for _, url := range []string{wss, tlsURL} {
		c := tlsDial(t, url, client.WithTLS(pin))
		tlsWaitRoute(t, c, cmdBasicsInst, basicsInstance)
		if got := tlsCall[string, string](t, c, cmdBasicsInst, basicsInstance, ""); got != "svc-1" {
			t.Fatalf("%s: served by %q", url, got)
		}
		clients = append(clients, c)
	}

	// Without the pin the certificate is not trusted.
	if c, err := client.Dial(deadline(t), tlsURL); err == nil {
		_ = c.Close()
		t.Fatal("tls:// without trust in the self-signed certificate succeeded")
	}
	// Plaintext clients on the TLS ports.
	for _, url := range []string{wss, tlsURL} {
		tlsPlaintextRefused(t, tlsHostPort(t, url))
	}
	plain := strings.Replace(wss, "wss://", "ws://", 1)
	if c, err := client.Dial(deadline(t), plain); err == nil {
		_ = c.Close()
		t.Fatal("ws:// to the wss:// port succeeded")
	}
	for _, c := range clients {
		if got := tlsCall[string, string](t, c, cmdBasicsInst, basicsInstance, ""); got != "svc-1" {
			t.Fatalf("after the plaintext clients: served by %q", got)
		}
	}
}

func tlsHostPort(t *testing.T, url string) string {
	t.Helper()
	_, rest, ok := strings.Cut(url, "://")
	if !ok {
		t.Fatalf("URL %q", url)
	}
	h, _, _ := strings.Cut(rest, "/")
	return h
}

// tlsTestCA is a certificate authority made by a test.
type tlsTestCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTLSTestCA(t *testing.T) *tlsTestCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "iogo test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tlsTestCA{cert: cert, key: key, pool: pool}
}

// issue writes a leaf certificate for 127.0.0.1 signed by ca, and its key,
// as PEM files at certFile and keyFile (through a rename, as certificate
// managers do), and returns the leaf's DER.
func (ca *tlsTestCA) issue(t *testing.T, serial int64, certFile, keyFile string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "gate"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for path, blk := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(path+".tmp", pem.EncodeToMemory(blk), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	return der
}

// tlsPeerCert returns the certificate a TLS server at addr presents.
func tlsPeerCert(t *testing.T, addr string, roots *x509.CertPool) []byte {
	t.Helper()
	d := tls.Dialer{Config: &tls.Config{RootCAs: roots}}
	conn, err := d.DialContext(deadline(t), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates[0].Raw
}

// TestHostileTLSCertFiles: the gate serves a CA-signed certificate from
// -tls-cert/-tls-key; clients verify it against the CA (no pinning), over
// wss:// and tls://. After the files are replaced and the gate gets SIGHUP,
// new connections see the new certificate and the old ones keep working.
// On main the flags do not exist and the gate does not start.
func TestHostileTLSCertFiles(t *testing.T) {
	broker := tlsBrokerSvc(t)
	ca := newTLSTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "gate.pem"), filepath.Join(dir, "gate.key")
	first := ca.issue(t, 2, certFile, keyFile)
	g := tlsGate(t, broker, "-tls-cert", certFile, "-tls-key", keyFile)
	trust := client.WithTLS(&tls.Config{RootCAs: ca.pool})
	var clients []*client.Client
	for _, url := range []string{g.ready["ws"], g.ready["tcp"]} {
		c := tlsDial(t, url, trust)
		tlsWaitRoute(t, c, cmdBasicsInst, basicsInstance)
		tlsCall[string, string](t, c, cmdBasicsInst, basicsInstance, "")
		clients = append(clients, c)
	}
	tcpAddr := tlsHostPort(t, g.ready["tcp"])
	if !bytes.Equal(tlsPeerCert(t, tcpAddr, ca.pool), first) {
		t.Fatal("the gate does not present the certificate of -tls-cert")
	}

	second := ca.issue(t, 3, certFile, keyFile)
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(10 * time.Second)
	for !bytes.Equal(tlsPeerCert(t, tcpAddr, ca.pool), second) {
		if time.Now().After(end) {
			t.Fatal("the gate still presents the old certificate after SIGHUP")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range clients {
		tlsCall[string, string](t, c, cmdBasicsInst, basicsInstance, "")
	}
	tlsDial(t, g.ready["ws"], trust)
}

// tlsRawUpgrade sends a WebSocket upgrade request for target to addr
// over plain TCP and returns the response's status code and body.
func tlsRawUpgrade(t *testing.T, addr, target string, hdr http.Header) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+target, nil)
	req.Header = hdr.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return resp.StatusCode, ""
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	return resp.StatusCode, body.String()
}

// TestHostileWSAuth: a gate with -ws-auth-token answers an upgrade
// without the token, or with a wrong one, with a plain HTTP 401 (seen by a
// raw client) and opens no session; the right token, in the query or an
// Authorization header, is admitted. A gate with -ws-auth-hmac-secret
// admits a signed token and its claims reach the logic server as session
// attributes. TCP has no upgrade and is not affected. On main the flags do
// not exist and the gate does not start; with the flag ignored, every
// upgrade gets 101.
func TestHostileWSAuth(t *testing.T) {
	broker := tlsBrokerSvc(t)
	g := tlsGate(t, broker, "-ws-auth-token", "s3cret")
	wsAddr := tlsHostPort(t, g.ready["ws"])
	tests := []struct {
		name   string
		target string
		hdr    http.Header
		status int
	}{
		{"no token", "/websocket", nil, http.StatusUnauthorized},
		{"wrong token", "/websocket?token=guess", nil, http.StatusUnauthorized},
		{"wrong bearer", "/websocket", http.Header{"Authorization": {"Bearer guess"}}, http.StatusUnauthorized},
		{"token in the query", "/websocket?token=s3cret", nil, http.StatusSwitchingProtocols},
		{"bearer header", "/websocket", http.Header{"Authorization": {"Bearer s3cret"}}, http.StatusSwitchingProtocols},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := tlsRawUpgrade(t, wsAddr, tt.target, tt.hdr)
			if status != tt.status {
				t.Fatalf("status %d %q, want %d", status, body, tt.status)
			}
		})
	}
	if _, err := client.Dial(deadline(t), g.ready["ws"]); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("client without a token: %v, want a 401", err)
	}
	c := tlsDial(t, g.ready["ws"]+"?token=s3cret")
	tlsWaitRoute(t, c, cmdBasicsInst, basicsInstance)
	tlsDial(t, g.ready["tcp"]).Heartbeat(deadline(t))

	t.Run("hmac", func(t *testing.T) {
		secret := "k3y"
		h := tlsGate(t, broker, "-ws-auth-hmac-secret", secret)
		expired := external.SignToken([]byte(secret), map[string]string{"user": "42"}, time.Now().Add(-time.Minute))
		if status, _ := tlsRawUpgrade(t, tlsHostPort(t, h.ready["ws"]), "/websocket?token="+expired, nil); status != http.StatusUnauthorized {
			t.Fatalf("expired token: status %d", status)
		}
		good := external.SignToken([]byte(secret), map[string]string{"user": "42"}, time.Now().Add(time.Hour))
		c := tlsDial(t, h.ready["ws"]+"?token="+good)
		tlsWaitRoute(t, c, cmdGate, gateAttrs)
		attrs := tlsCall[string, string](t, c, cmdGate, gateAttrs, "")
		if !strings.Contains(attrs, "user=42") {
			t.Fatalf("session attributes %q, want the token's user", attrs)
		}
	})
}

// TestHostileRegionAllGates: a logic server (testsvc) calls the built-in
// region action "sessions" on every gate and collects one answer per gate
// (two gate processes with 2 and 1 sessions), an unknown bizCode is
// answered with -1002 by each gate, and the call on the caller's own gate
// reaches that gate. On main the gates do not serve iogo.ext.* (and
// pkg/logic has no region calls).
func TestHostileRegionAllGates(t *testing.T) {
	broker := tlsBrokerSvc(t)
	a := tlsGate(t, broker, "-id", "gate-a")
	b := tlsGate(t, broker, "-id", "gate-b")
	a1, a2 := tlsDial(t, a.ready["tcp"]), tlsDial(t, a.ready["ws"])
	b1 := tlsDial(t, b.ready["tcp"])
	tlsWaitRoute(t, a1, cmdRegion, regionSessions)
	tlsWaitRoute(t, b1, cmdRegion, regionSessions)
	if err := a2.Heartbeat(deadline(t)); err != nil {
		t.Fatal(err)
	}

	got := tlsCall[string, []string](t, a1, cmdRegion, regionSessions, "")
	if want := []string{"gate-a=2", "gate-b=1"}; !slices.Equal(got, want) {
		t.Fatalf("sessions per gate %q, want %q", got, want)
	}
	got = tlsCall[int32, []string](t, b1, cmdRegion, regionAllBizCode, 77)
	if want := []string{"gate-a=-1002", "gate-b=-1002"}; !slices.Equal(got, want) {
		t.Fatalf("unknown bizCode %q, want %q", got, want)
	}
	for _, tc := range []struct {
		c    *client.Client
		user int64
		want int64
	}{{b1, 9001, 1}, {a2, 9002, 2}} {
		tlsCall[int64, int64](t, tc.c, cmdGate, gateLogin, tc.user)
		if n := tlsCall[string, int64](t, tc.c, cmdRegion, regionMine, ""); n != tc.want {
			t.Fatalf("user %d: sessions on the own gate %d, want %d", tc.user, n, tc.want)
		}
	}
}

// TestHostileTLSDev: `iogo dev -tls-self-signed` serves tls:// with the
// fingerprint in its ready line, and `iogo sim -tls-pin` runs a scenario
// against it without errors. On main neither flag exists.
func TestHostileTLSDev(t *testing.T) {
	d := startProc(t, "iogo", "dev", "dev", "-ws", "127.0.0.1:0", "-tcp", "127.0.0.1:0", "-nats", "", "-tls-self-signed", "-debug=false")
	tlsURL, fp := d.ready["tcp"], d.ready["sha256"]
	if !strings.HasPrefix(tlsURL, "tls://") || !strings.HasPrefix(d.ready["ws"], "wss://") || fp == "" {
		t.Fatalf("ready line %v", d.ready)
	}
	pin, err := client.PinnedTLS(fp)
	if err != nil {
		t.Fatal(err)
	}
	tlsWaitRoute(t, tlsDial(t, tlsURL, client.WithTLS(pin)), 1, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "iogo"), "sim", "-url", tlsURL, "-tls-pin", fp,
		"-scenario", "echo", "-players", "3", "-ramp", "1ms", "-iterations", "10", "-json", "-quiet")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("iogo sim: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	var rep simReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout.String())
	}
	if rep.Connected != 3 || rep.Requests < 30 || rep.Errors != 0 {
		t.Fatalf("sim over tls://: %+v", rep)
	}
}
