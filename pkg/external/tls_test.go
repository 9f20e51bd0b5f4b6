package external

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/wire"
)

// writeCert writes a new self-signed certificate for 127.0.0.1 as PEM
// files in dir and returns their paths and its fingerprint.
func writeCert(t *testing.T, dir string) (certFile, keyFile, fp string) {
	t.Helper()
	cert, err := SelfSignedCertificate("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	// Write under other names and rename, as a certificate manager does,
	// so that a reload never sees half a file.
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{certFile, "CERTIFICATE", cert.Certificate[0]}, {keyFile, "PRIVATE KEY", key}} {
		tmp := f.path + ".tmp"
		if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile, Fingerprint(cert.Certificate[0])
}

// dialTLS connects a client over TLS and closes it at the end of the test.
func dialTLS(t *testing.T, url string, cfg *tls.Config) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, client.WithTLS(cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestTLSSelfSigned(t *testing.T) {
	ns := runNATS(t)
	g := startGate(t, ns, func(c *Config) { c.TLSSelfSigned = true })
	fp := g.TLSFingerprint()
	pin, err := client.PinnedTLS(fp)
	if err != nil {
		t.Fatal(err)
	}
	wss := "wss://" + g.WSAddr().String() + "/websocket"
	tlsURL := "tls://" + g.TCPAddr().String()
	for _, url := range []string{wss, tlsURL} {
		t.Run(url[:strings.Index(url, ":")], func(t *testing.T) {
			c := dialTLS(t, url, pin)
			if err := c.Heartbeat(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		})
	}

	t.Run("wrong pin", func(t *testing.T) {
		other, _ := client.PinnedTLS(strings.Repeat("ab", 32))
		for _, url := range []string{wss, tlsURL} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			c, err := client.Dial(ctx, url, client.WithTLS(other))
			cancel()
			if err == nil {
				_ = c.Close()
				t.Fatalf("%s: dial with a wrong pin succeeded", url)
			}
		}
	})
	t.Run("unverified", func(t *testing.T) {
		// Not trusted by the system roots.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if c, err := client.Dial(ctx, tlsURL); err == nil {
			_ = c.Close()
			t.Fatal("dial without trust succeeded")
		}
	})
	t.Run("as a root", func(t *testing.T) {
		// The self-signed certificate may be trusted as its own root too.
		conn, err := tls.Dial("tcp", g.TCPAddr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		leaf := conn.ConnectionState().PeerCertificates[0]
		_ = conn.Close()
		roots := x509.NewCertPool()
		roots.AddCert(leaf)
		c := dialTLS(t, tlsURL, &tls.Config{RootCAs: roots})
		if err := c.Heartbeat(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("plaintext client", func(t *testing.T) {
		other := dialTLS(t, tlsURL, pin)
		for _, addr := range []string{g.TCPAddr().String(), g.WSAddr().String()} {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			frame, _ := wire.AppendFrame(nil, wire.Protobuf{}, &wire.Message{CmdCode: wire.CmdHeartbeat, MsgID: 1})
			_, _ = conn.Write(frame)
			_, _ = conn.Write([]byte("GET /websocket HTTP/1.1\r\nHost: x\r\n\r\n"))
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			// The server answers with at most a TLS alert, then closes.
			b, err := bufio.NewReader(conn).ReadString(0)
			_ = conn.Close()
			if err == nil || strings.Contains(b, "HTTP/") || isTimeout(err) {
				t.Fatalf("%s: plaintext got %q, %v", addr, b, err)
			}
		}
		if err := other.Heartbeat(ctxT(t)); err != nil {
			t.Fatalf("the TLS client suffered: %v", err)
		}
	})
}

func TestTLSCertFilesReload(t *testing.T) {
	ns := runNATS(t)
	dir := t.TempDir()
	certFile, keyFile, fp1 := writeCert(t, dir)
	g := startGate(t, ns, func(c *Config) { c.TLSCertFile, c.TLSKeyFile = certFile, keyFile })
	if got := g.TLSFingerprint(); got != fp1 {
		t.Fatalf("fingerprint %s, want %s", got, fp1)
	}
	pin1, _ := client.PinnedTLS(fp1)
	c := dialTLS(t, "tls://"+g.TCPAddr().String(), pin1)
	if err := c.Heartbeat(ctxT(t)); err != nil {
		t.Fatal(err)
	}

	_, _, fp2 := writeCert(t, dir)
	pin2, _ := client.PinnedTLS(fp2)
	// Within a second or so, new handshakes get the new certificate; the
	// established connection stays.
	waitFor(t, 10*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c2, err := client.Dial(ctx, "tls://"+g.TCPAddr().String(), client.WithTLS(pin2))
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			return err
		}
		return c2.Close()
	})
	if got := g.TLSFingerprint(); got != fp2 {
		t.Fatalf("fingerprint %s after the change, want %s", got, fp2)
	}
	if err := c.Heartbeat(ctxT(t)); err != nil {
		t.Fatalf("established connection: %v", err)
	}

	// A broken pair is refused by ReloadTLS and the old one stays.
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.ReloadTLS(); err == nil {
		t.Fatal("ReloadTLS of a broken file succeeded")
	}
	if got := g.TLSFingerprint(); got != fp2 {
		t.Fatalf("fingerprint %s after a broken reload, want %s", got, fp2)
	}
	dialTLS(t, "tls://"+g.TCPAddr().String(), pin2)
}

func TestTLSValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" for valid
	}{
		{"files", Config{WSAddr: ":0", TLSCertFile: "c", TLSKeyFile: "k"}, ""},
		{"self-signed", Config{TCPAddr: ":0", TLSSelfSigned: true}, ""},
		{"cert without key", Config{WSAddr: ":0", TLSCertFile: "c"}, "go together"},
		{"both", Config{WSAddr: ":0", TLSCertFile: "c", TLSKeyFile: "k", TLSSelfSigned: true}, "exclude"},
		{"kcp only", Config{KCPAddr: ":0", TLSSelfSigned: true}, "KCP has no TLS"},
		{"config without certificate", Config{WSAddr: ":0", TLSConfig: &tls.Config{}}, "no certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate: %v, want %q", err, tt.want)
			}
		})
	}
}

func TestPinnedTLSRejectsBadFingerprints(t *testing.T) {
	for _, fp := range []string{"", "xyz", strings.Repeat("a", 63)} {
		if _, err := client.PinnedTLS(fp); err == nil {
			t.Errorf("PinnedTLS(%q) succeeded", fp)
		}
	}
	colons := strings.Repeat("AB:", 31) + "AB"
	if _, err := client.PinnedTLS(colons); err != nil {
		t.Error(err)
	}
}

// A TLS link closes at once even when its peer reads nothing, so that a
// shared goroutine closing it (the push loop, on a queue overflow) is not
// held up by the close_notify alert.
func TestCloseConnDoesNotWaitForTheTLSPeer(t *testing.T) {
	cert, err := SelfSignedCertificate()
	if err != nil {
		t.Fatal(err)
	}
	a, b := net.Pipe() // no buffer: any write waits for the peer to read
	srv := tls.Server(a, &tls.Config{Certificates: []tls.Certificate{cert}})
	cli := tls.Client(b, &tls.Config{InsecureSkipVerify: true})
	hs := make(chan error, 1)
	go func() { hs <- cli.Handshake() }()
	if err := srv.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-hs; err != nil {
		t.Fatal(err)
	}
	// The client stops reading: tls.Conn.Close would block writing its
	// alert for 5 s.
	done := make(chan struct{})
	go func() {
		_ = closeConn(srv)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("closeConn waits for the peer")
	}
	_ = cli.NetConn().Close()
}
