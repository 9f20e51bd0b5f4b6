package external

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMetrics scrapes the gate's /metrics while a client connects and
// leaves.
func TestMetrics(t *testing.T) {
	ns := runNATS(t)
	g := startGate(t, ns, func(c *Config) { c.ID, c.MetricsAddr = "gm", "127.0.0.1:0" })
	url := g.MetricsURL()
	if url == "" {
		t.Fatal("no metrics URL")
	}
	scrapeFor := func(t *testing.T, want string) {
		t.Helper()
		waitFor(t, 5*time.Second, func() error {
			resp, err := http.Get(url)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			if !strings.Contains(string(body), want) {
				return fmt.Errorf("no %q in:\n%s", want, body)
			}
			return nil
		})
	}
	for _, tt := range []struct {
		name string
		step func()
		want string
	}{
		{"idle", func() {}, `iogo_gate_sessions{gate="gm"} 0`},
		{"connected", func() { dialT(t, tcpURL(g)) }, `iogo_gate_sessions{gate="gm"} 1`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.step()
			scrapeFor(t, tt.want)
		})
	}
	scrapeFor(t, `iogo_gate_pending_requests{gate="gm"} 0`)
	scrapeFor(t, `go_goroutines`)
	scrapeFor(t, `iogo_gate_refused_total{gate="gm",reason="addr_limit",transport="ws"} 0`)
	scrapeFor(t, `iogo_gate_handshake_timeouts_total{gate="gm",transport="kcp"} 0`)
}
