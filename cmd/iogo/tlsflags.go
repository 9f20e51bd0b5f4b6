package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/iogo-dev/iogo/pkg/client"
)

// tlsFlags adds the client TLS flags of `iogo sim` and `iogo cli` to fs
// and returns the function that turns them, after parsing, into dial
// options: nil when none is set (wss:// and tls:// then verify against the
// system roots).
func tlsFlags(fs *flag.FlagSet) func() ([]client.Option, error) {
	pin := fs.String("tls-pin", "", "for wss:// and tls:// URLs: accept only the server certificate with this SHA-256 fingerprint (a self-signed development gate prints it)")
	ca := fs.String("tls-ca", "", "for wss:// and tls:// URLs: PEM file of the certificate authorities to trust instead of the system's")
	insecure := fs.Bool("tls-insecure", false, "for wss:// and tls:// URLs: accept any server certificate (testing only)")
	return func() ([]client.Option, error) {
		set := 0
		for _, on := range []bool{*pin != "", *ca != "", *insecure} {
			if on {
				set++
			}
		}
		if set > 1 {
			return nil, errors.New("-tls-pin, -tls-ca and -tls-insecure exclude each other")
		}
		var cfg *tls.Config
		switch {
		case *pin != "":
			var err error
			if cfg, err = client.PinnedTLS(*pin); err != nil {
				return nil, fmt.Errorf("-tls-pin: %w", err)
			}
		case *ca != "":
			pem, err := os.ReadFile(*ca)
			if err != nil {
				return nil, fmt.Errorf("-tls-ca: %w", err)
			}
			roots := x509.NewCertPool()
			if !roots.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("-tls-ca: no certificate in %s", *ca)
			}
			cfg = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		case *insecure:
			cfg = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // asked for by -tls-insecure
		default:
			return nil, nil
		}
		return []client.Option{client.WithTLS(cfg)}, nil
	}
}
