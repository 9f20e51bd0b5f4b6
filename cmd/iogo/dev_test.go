package main

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/registry"
)

// TestDevBrokerListener checks the broker of `iogo dev`: no listener
// without -nats; with it, one user per role whose URL the ready line and
// the summary show, no client without credentials, and the tool's
// credential reads the route registry.
func TestDevBrokerListener(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	tests := []struct {
		name   string
		listen string
	}{
		{"in-process only", ""},
		{"listener", "127.0.0.1:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			d, err := startDev(ctx, devConfig{TCPAddr: "127.0.0.1:0", NATSAddr: tt.listen, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := d.shutdown(context.WithoutCancel(ctx)); err != nil {
					t.Errorf("shutdown: %v", err)
				}
			}()
			kv := map[string]string{}
			for _, f := range strings.Fields(d.readyLine()) {
				if k, v, ok := strings.Cut(f, "="); ok {
					kv[k] = v
				}
			}
			var summary strings.Builder
			d.describe(&summary)
			if tt.listen == "" {
				if d.broker.ClientURL() != "" || kv["nats"] != "" || kv["nats-tool"] != "" {
					t.Fatalf("a broker listener without -nats: %q", d.readyLine())
				}
				if strings.Contains(summary.String(), "-password") {
					t.Fatalf("credentials printed without a listener:\n%s", summary.String())
				}
				return
			}
			if _, err := nats.Connect(kv["nats"], nats.MaxReconnects(0)); !errors.Is(err, nats.ErrAuthorization) {
				t.Fatalf("connect without credentials: %v, want an authorization error", err)
			}
			for _, role := range fabric.Roles() {
				u, err := url.Parse(kv["nats-"+role])
				if err != nil || u.User == nil || u.User.Username() != role {
					t.Fatalf("nats-%s=%q: %v", role, kv["nats-"+role], err)
				}
				pw, _ := u.User.Password()
				if !strings.Contains(summary.String(), "-user "+role+" -password "+pw) {
					t.Errorf("the summary lacks the %s credential:\n%s", role, summary.String())
				}
			}
			nc, err := connectTool(kv["nats-tool"], "test", 5*time.Second, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			reg, err := registry.Open(ctx, js)
			if err != nil {
				t.Fatal(err)
			}
			if routes, err := reg.Routes(ctx); err != nil || len(routes) == 0 {
				t.Fatalf("routes through the tool credential: %d, %v", len(routes), err)
			}
		})
	}
}
