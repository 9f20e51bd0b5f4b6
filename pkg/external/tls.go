package external

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// TLS
//
// With Config.TLSCertFile and Config.TLSKeyFile, or Config.TLSSelfSigned,
// or Config.TLSConfig, the WebSocket listener serves wss:// and the TCP
// listener serves TLS (clients dial tls://host:port); KCP stays plaintext.
// The listeners are wrapped with tls.NewListener, so the handshake runs on
// the connection's own goroutine at its first read, under the same read
// deadline as the first frame: an unfinished handshake costs no more than
// an unfinished frame, and a plaintext client on a TLS port fails its
// handshake and is closed without touching any other session.
//
// Certificate files are watched: at most once a second, a handshake checks
// their modification times and size and loads a changed pair; a pair that
// fails to load is logged and the previous certificate stays in use.
// Server.ReloadTLS reloads at once (services/external calls it on SIGHUP).

// tlsCheckEvery bounds how often a handshake looks at the certificate
// files for a change.
const tlsCheckEvery = time.Second

// selfSignedValidity is how long a Config.TLSSelfSigned certificate is
// valid, from an hour before Start.
const selfSignedValidity = 365 * 24 * time.Hour

// ErrNoTLS is returned by Server.ReloadTLS when the server does not serve
// TLS from certificate files.
var ErrNoTLS = errors.New("external: no TLS certificate files configured")

// tlsOn reports whether c asks for TLS.
func (c *Config) tlsOn() bool {
	return c.TLSCertFile != "" || c.TLSKeyFile != "" || c.TLSSelfSigned || c.TLSConfig != nil
}

// validateSecurity checks the TLS fields and Regions.
func (c *Config) validateSecurity() error {
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("external: TLSCertFile and TLSKeyFile go together")
	}
	if c.TLSSelfSigned && c.TLSCertFile != "" {
		return errors.New("external: TLSSelfSigned and TLSCertFile exclude each other")
	}
	if c.tlsOn() && c.WSAddr == "" && c.TCPAddr == "" {
		return errors.New("external: TLS covers WebSocket and TCP, and neither is enabled (KCP has no TLS)")
	}
	if c.TLSConfig != nil && c.TLSCertFile == "" && !c.TLSSelfSigned &&
		len(c.TLSConfig.Certificates) == 0 && c.TLSConfig.GetCertificate == nil && c.TLSConfig.GetConfigForClient == nil {
		return errors.New("external: TLSConfig has no certificate (set Certificates or GetCertificate, or TLSCertFile)")
	}
	return c.Regions.err() // region.go
}

// tlsState is the server's TLS setup, made at Start.
type tlsState struct {
	ws, tcp     *tls.Config // nil: plaintext
	certs       *certSource // nil unless the certificate comes from files
	fingerprint string      // SHA-256 of the served leaf certificate, hex; "" when unknown
}

// setupTLS builds the listeners' TLS configurations from the Config; it
// reads the certificate files or generates the self-signed certificate.
func (s *Server) setupTLS() error {
	if !s.cfg.tlsOn() {
		return nil
	}
	var base *tls.Config
	if s.cfg.TLSConfig != nil {
		base = s.cfg.TLSConfig.Clone()
	} else {
		base = &tls.Config{}
	}
	if base.MinVersion < tls.VersionTLS12 {
		base.MinVersion = tls.VersionTLS12
	}
	st := &s.tls
	switch {
	case s.cfg.TLSCertFile != "":
		src := &certSource{certFile: s.cfg.TLSCertFile, keyFile: s.cfg.TLSKeyFile, log: s.log}
		if err := src.load(); err != nil {
			return err
		}
		st.certs = src
		base.Certificates = nil
		base.GetCertificate = src.get
		st.fingerprint = src.fingerprint()
	case s.cfg.TLSSelfSigned:
		cert, err := SelfSignedCertificate(s.listenHosts()...)
		if err != nil {
			return err
		}
		base.Certificates = []tls.Certificate{cert}
		base.GetCertificate = nil
		st.fingerprint = Fingerprint(cert.Certificate[0])
		s.log.Warn("serving TLS with a self-signed certificate: for development only",
			"sha256", st.fingerprint)
	default:
		if len(base.Certificates) > 0 && len(base.Certificates[0].Certificate) > 0 {
			st.fingerprint = Fingerprint(base.Certificates[0].Certificate[0])
		}
	}
	st.tcp = base
	st.ws = base.Clone()
	if len(st.ws.NextProtos) == 0 {
		st.ws.NextProtos = []string{"http/1.1"}
	}
	return nil
}

// listenHosts returns the hosts a self-signed certificate names: the
// listen hosts of WebSocket and TCP when they are specific.
func (s *Server) listenHosts() []string {
	var hosts []string
	for _, a := range []string{s.cfg.WSAddr, s.cfg.TCPAddr} {
		h, _, err := net.SplitHostPort(a)
		if err != nil || h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
			continue
		}
		hosts = append(hosts, h)
	}
	return hosts
}

// wrapTLS returns ln serving TLS with cfg, or ln itself when cfg is nil.
func wrapTLS(ln net.Listener, cfg *tls.Config) net.Listener {
	if ln == nil || cfg == nil {
		return ln
	}
	return tls.NewListener(ln, cfg)
}

// TLSFingerprint returns the SHA-256 fingerprint, in lowercase hex, of the
// certificate the server presents: for a self-signed development
// certificate, what a client pins (client.PinnedTLS). It is "" when the
// server serves no TLS, or when the certificate comes from a
// Config.TLSConfig callback. It may change when the certificate files are
// reloaded.
func (s *Server) TLSFingerprint() string {
	if s.tls.certs != nil {
		return s.tls.certs.fingerprint()
	}
	return s.tls.fingerprint
}

// ReloadTLS reads the certificate files again and serves the new pair to
// new connections; established connections keep theirs. On error the
// previous certificate stays in use. ErrNoTLS when the server does not
// serve TLS from files (or has not started).
func (s *Server) ReloadTLS() error {
	if s.tls.certs == nil {
		return ErrNoTLS
	}
	return s.tls.certs.load()
}

// certSource serves a certificate pair from files and reloads it when
// they change.
type certSource struct {
	certFile, keyFile string
	log               *slog.Logger

	cert    atomic.Pointer[tls.Certificate]
	fp      atomic.Pointer[string]
	checked atomic.Int64 // unix nanoseconds of the last look at the files

	mu    sync.Mutex // serializes loads; guards stamp
	stamp [2]fileStamp
}

// fileStamp identifies a version of a file.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}, nil
}

// load reads the pair and serves it.
func (c *certSource) load() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loadLocked()
}

func (c *certSource) loadLocked() error {
	cs, err1 := stampOf(c.certFile)
	ks, err2 := stampOf(c.keyFile)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("external: TLS: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("external: TLS: %w", err)
	}
	fp := Fingerprint(cert.Certificate[0])
	c.cert.Store(&cert)
	c.fp.Store(&fp)
	c.stamp = [2]fileStamp{cs, ks}
	c.checked.Store(time.Now().UnixNano())
	return nil
}

// get is the tls.Config's GetCertificate: the current pair, after a look
// at the files at most every tlsCheckEvery.
func (c *certSource) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	now := time.Now().UnixNano()
	last := c.checked.Load()
	if now-last >= int64(tlsCheckEvery) && c.checked.CompareAndSwap(last, now) {
		c.reloadIfChanged()
	}
	return c.cert.Load(), nil
}

// reloadIfChanged loads the pair when either file's stamp changed.
func (c *certSource) reloadIfChanged() {
	cs, err1 := stampOf(c.certFile)
	ks, err2 := stampOf(c.keyFile)
	if err1 != nil || err2 != nil {
		return // being replaced, or gone: keep serving what we have
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stamp == [2]fileStamp{cs, ks} {
		return
	}
	if err := c.loadLocked(); err != nil {
		c.stamp = [2]fileStamp{cs, ks} // do not retry this version at every handshake
		c.log.Warn("TLS certificate files changed but do not load; keeping the previous certificate",
			slog.Any("error", err))
		return
	}
	c.log.Info("TLS certificate reloaded", "sha256", c.fingerprint())
}

func (c *certSource) fingerprint() string {
	if p := c.fp.Load(); p != nil {
		return *p
	}
	return ""
}

// Fingerprint returns the SHA-256 fingerprint of a DER-encoded
// certificate in lowercase hex, as TLSFingerprint reports it and
// client.PinnedTLS takes it.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// SelfSignedCertificate returns a new self-signed certificate (ECDSA
// P-256, valid for a year) for hosts, names or IP addresses, and always
// for localhost, 127.0.0.1 and ::1. It is what Config.TLSSelfSigned
// serves: for development and tests, never for players on the internet.
func SelfSignedCertificate(hosts ...string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("external: self-signed certificate: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("external: self-signed certificate: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"iogo development"}, CommonName: "iogo self-signed"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // so that a client may also trust it as its own root
	}
	seen := map[string]bool{}
	for _, h := range append(hosts, "localhost", "127.0.0.1", "::1") {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("external: self-signed certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("external: self-signed certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// closeConn closes c at once. A TLS connection is closed underneath,
// without the close_notify alert tls.Conn.Close would first write (and
// wait up to 5 s for, when the peer does not read): links close on abort
// paths, some of them on shared goroutines such as the push loop.
func closeConn(c net.Conn) error {
	if tc, ok := c.(*tls.Conn); ok {
		return tc.NetConn().Close()
	}
	return c.Close()
}
