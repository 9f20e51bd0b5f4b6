package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// simReport holds the fields of `iogo sim -json` that the test checks,
// decoded here rather than through pkg/sim: the test reads the output as
// a script would.
type simReport struct {
	Scenario  string  `json:"scenario"`
	Connected int     `json:"connected"`
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	RPS       float64 `json:"rps"`
	SteadyRPS float64 `json:"steady_rps"`
	Latency   struct {
		Count int64   `json:"count"`
		P50MS float64 `json:"p50_ms"`
		P99MS float64 `json:"p99_ms"`
	} `json:"latency"`
	ErrorsByCode map[string]int64 `json:"errors_by_code"`
	Series       []struct {
		Requests int64 `json:"requests"`
	} `json:"series"`
}

// TestSim runs the built `iogo sim` against `iogo dev` for a few seconds
// per scenario and transport: throughput, no errors, a report and a plot.
func TestSim(t *testing.T) {
	d := startDev(t)
	waitServed(t, d.ws)
	tests := []struct {
		name, url, scenario string
	}{
		{"echo over WebSocket", d.ws, "echo"},
		{"login over TCP", d.tcp, "login"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plot := filepath.Join(t.TempDir(), "plot.html")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			// 20 players at 40 requests/s each stay under the gate's
			// per-connection rate limit.
			cmd := exec.CommandContext(ctx, filepath.Join(binDir, "iogo"), "sim",
				"-url", tt.url, "-scenario", tt.scenario, "-players", "20", "-rate", "40",
				"-ramp", "500ms", "-duration", "3s", "-interval", "250ms", "-json", "-plot", plot)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("iogo sim: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
			}
			var rep simReport
			if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
				t.Fatalf("report: %v\n%s", err, stdout.String())
			}
			if rep.Scenario != tt.scenario || rep.Connected != 20 {
				t.Fatalf("scenario %q, %d connected", rep.Scenario, rep.Connected)
			}
			if rep.Requests == 0 || rep.RPS <= 0 || rep.SteadyRPS <= 0 || rep.Latency.Count != rep.Requests || rep.Latency.P99MS <= 0 {
				t.Fatalf("no throughput: %+v", rep)
			}
			if rep.Errors != 0 || len(rep.ErrorsByCode) != 0 {
				t.Fatalf("%d errors: %v", rep.Errors, rep.ErrorsByCode)
			}
			if len(rep.Series) < 4 {
				t.Fatalf("%d samples in the series", len(rep.Series))
			}
			html, err := os.ReadFile(plot)
			if err != nil {
				t.Fatal(err)
			}
			if s := string(html); !strings.Contains(s, "<svg") || !strings.Contains(s, "<polyline") || !strings.HasSuffix(strings.TrimSpace(s), "</html>") {
				t.Fatalf("plot is not an HTML page with charts:\n%.500s", s)
			}
		})
	}
}

// waitServed polls until the gate at url knows routes 1-1 and 2-1, that
// is until they answer anything but route-not-found: `iogo dev` prints its
// ready line before its gate's route view has necessarily caught up.
func waitServed(t *testing.T, url string) {
	t.Helper()
	c := dialSpec(t, url)
	defer c.close()
	deadline := time.Now().Add(10 * time.Second)
	id := int32(1000)
	for _, r := range [][2]int32{{1, 1}, {2, 1}} {
		for {
			id++
			resp := request(t, c, r[0], r[1], id, nil)
			if resp.ResponseStatus != codeRouteNotFound {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("route %d-%d not served within 10s", r[0], r[1])
			}
			time.Sleep(10 * time.Millisecond) // poll step
		}
	}
}
