package main

import (
	"errors"
	"flag"
	"net"
	"time"

	"github.com/iogo-dev/iogo/pkg/external"
	"github.com/iogo-dev/iogo/pkg/svcmain/svcbase"
)

// securityFlags adds the TLS and WebSocket admission flags to fs and
// returns the function that applies them to cfg after parsing.
func securityFlags(fs *flag.FlagSet, cfg *external.Config) func() error {
	fs.StringVar(&cfg.TLSCertFile, "tls-cert", "", "PEM certificate (chain) file: serve wss:// and TLS on -tcp (needs -tls-key; reloaded when it changes or on SIGHUP)")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key", "", "PEM private key file of -tls-cert")
	fs.BoolVar(&cfg.TLSSelfSigned, "tls-self-signed", false, "serve TLS with a certificate generated at start (development only; its SHA-256 is printed in the ready line)")
	token := fs.String("ws-auth-token", "", "admit a WebSocket upgrade only with this token, in ?token= or an Authorization: Bearer header (comma-separated for several); others get HTTP 401")
	secret := fs.String("ws-auth-hmac-secret", "", "admit a WebSocket upgrade only with a token signed by external.SignToken with this secret, and set its claims as session attributes; prefer the environment variable")
	return func() error {
		switch {
		case *token != "" && *secret != "":
			return errors.New("-ws-auth-token and -ws-auth-hmac-secret exclude each other")
		case *token != "":
			cfg.Authorize = external.BearerToken(svcbase.SplitList(*token)...)
		case *secret != "":
			cfg.Authorize = external.HMACToken([]byte(*secret), time.Now)
		}
		return nil
	}
}

// readyLineTLS is readyLine for a server that may serve TLS: its
// WebSocket URL is wss://, its TCP URL tls://, and the key sha256 holds
// the certificate's fingerprint when known (a client pins it for a
// self-signed certificate).
func readyLineTLS(ws, tcp, kcp net.Addr, wsPath string, tls bool, fingerprint string) string {
	if !tls {
		return readyLine(ws, tcp, kcp, wsPath)
	}
	var kv []string
	if ws != nil {
		kv = append(kv, "ws", "wss://"+svcbase.Dialable(ws)+wsPath)
	}
	if tcp != nil {
		kv = append(kv, "tcp", "tls://"+svcbase.Dialable(tcp))
	}
	if kcp != nil {
		kv = append(kv, "kcp", "kcp://"+svcbase.Dialable(kcp))
	}
	if fingerprint != "" {
		kv = append(kv, "sha256", fingerprint)
	}
	return svcbase.ReadyLine("external", kv...)
}
