package client

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// WithTLS sets the TLS configuration of wss:// and tls:// connections: the
// roots to trust (RootCAs), a client certificate, or, for a development
// server's self-signed certificate, PinnedTLS. A nil cfg, the default,
// verifies the server against the system roots. Ignored for ws://, tcp://
// and kcp://.
func WithTLS(cfg *tls.Config) Option {
	return func(o *options) { o.tls = cfg }
}

// PinnedTLS returns a TLS configuration that accepts exactly the server
// certificate whose SHA-256 fingerprint is fingerprint (hex, upper or
// lower case, colons allowed), whatever its names, issuer or dates: what
// a development client uses against a gate serving a self-signed
// certificate (external.Config.TLSSelfSigned prints the fingerprint). Use
// it with WithTLS. Any other certificate fails the handshake.
func PinnedTLS(fingerprint string) (*tls.Config, error) {
	want, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(fingerprint), ":", ""))
	if err != nil || len(want) != sha256.Size {
		return nil, fmt.Errorf("client: fingerprint %q: want 64 hex digits (SHA-256)", fingerprint)
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The pin below replaces the chain and name checks.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("client: the server sent no certificate")
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if subtle.ConstantTimeCompare(got[:], want) != 1 {
				return fmt.Errorf("client: server certificate %x does not match the pinned fingerprint", got)
			}
			return nil
		},
	}, nil
}
