package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/external"
)

func TestSecurityFlags(t *testing.T) {
	req := func(token string) *external.UpgradeRequest {
		return &external.UpgradeRequest{Query: url.Values{"token": {token}}, Header: http.Header{}}
	}
	tests := []struct {
		name  string
		args  []string
		env   []string
		fails bool
		check func(t *testing.T, s settings)
	}{
		{name: "files", args: []string{"-tls-cert", "c.pem", "-tls-key", "k.pem"}, check: func(t *testing.T, s settings) {
			if s.cfg.TLSCertFile != "c.pem" || s.cfg.TLSKeyFile != "k.pem" {
				t.Fatalf("%+v", s.cfg)
			}
		}},
		{name: "cert without key", args: []string{"-tls-cert", "c.pem"}, fails: true},
		{name: "self-signed and files", args: []string{"-tls-self-signed", "-tls-cert", "c", "-tls-key", "k"}, fails: true},
		{name: "self-signed by env", env: []string{"IOGO_EXTERNAL_TLS_SELF_SIGNED", "true"}, check: func(t *testing.T, s settings) {
			if !s.cfg.TLSSelfSigned {
				t.Fatal("not self-signed")
			}
		}},
		{name: "bearer tokens", args: []string{"-ws-auth-token", "a,b"}, check: func(t *testing.T, s settings) {
			for tok, ok := range map[string]bool{"a": true, "b": true, "c": false} {
				if _, err := s.cfg.Authorize(context.Background(), req(tok)); (err == nil) != ok {
					t.Fatalf("token %q: %v", tok, err)
				}
			}
		}},
		{name: "hmac secret by env", env: []string{"IOGO_EXTERNAL_WS_AUTH_HMAC_SECRET", "k"}, check: func(t *testing.T, s settings) {
			tok := external.SignToken([]byte("k"), map[string]string{"user": "3"}, time.Now().Add(time.Minute))
			attrs, err := s.cfg.Authorize(context.Background(), req(tok))
			if err != nil || attrs["user"] != "3" {
				t.Fatalf("%v, %v", attrs, err)
			}
		}},
		{name: "both auth", args: []string{"-ws-auth-token", "a", "-ws-auth-hmac-secret", "k"}, fails: true},
		{name: "no auth by default", check: func(t *testing.T, s settings) {
			if s.cfg.Authorize != nil || s.cfg.TLSSelfSigned || s.cfg.TLSCertFile != "" {
				t.Fatalf("%+v", s.cfg)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := parseArgs(tt.args, envOf(tt.env...), io.Discard)
			if tt.fails {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
		})
	}
}

func TestReadyLineTLS(t *testing.T) {
	ws := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 10100}
	tcp := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 10200}
	tests := []struct {
		name string
		tls  bool
		fp   string
		want string
	}{
		{"plain", false, "", "iogo external ready ws=ws://10.0.0.1:10100/websocket tcp=tcp://10.0.0.1:10200"},
		{"tls", true, "", "iogo external ready ws=wss://10.0.0.1:10100/websocket tcp=tls://10.0.0.1:10200"},
		{"self-signed", true, "ab12", "iogo external ready ws=wss://10.0.0.1:10100/websocket tcp=tls://10.0.0.1:10200 sha256=ab12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readyLineTLS(ws, tcp, nil, "/websocket", tt.tls, tt.fp); got != tt.want {
				t.Fatalf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}
