package stats_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
	"github.com/iogo-dev/iogo/pkg/stats"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRecorder(t *testing.T) {
	merge := int32(3<<16 | 1)
	for _, tt := range []struct {
		name   string
		took   time.Duration
		code   int32
		bucket int
	}{
		{"fast", 100 * time.Microsecond, 0, 0},
		{"on a bound", time.Millisecond, 0, 1},
		{"slow error", 30 * time.Millisecond, 4201, 6},
		{"beyond the last bound", time.Minute, 0, len(stats.Buckets)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := stats.NewRecorder(stats.Config{Service: "svc", Instance: "svc-1", Routes: []int32{merge}})
			r.Observe(merge, tt.took, tt.code)
			r.Observe(99, tt.took, tt.code) // unknown route: ignored
			s := r.Snapshot(stats.Gauges{Queued: 2, Executors: 1})
			if len(s.Routes) != 1 || s.Queued != 2 || s.Executors != 1 {
				t.Fatalf("snapshot %+v", s)
			}
			rs := s.Routes[0]
			if rs.Route != "3-1" || rs.Calls != 1 || rs.Latency[tt.bucket] != 1 {
				t.Errorf("route stats %+v, want bucket %d", rs, tt.bucket)
			}
			if want := tt.code != 0; (rs.Errors[fmt.Sprint(tt.code)] == 1) != want {
				t.Errorf("errors %v", rs.Errors)
			}
		})
	}
}

// TestMetrics runs a broker serving /metrics and a logic server, calls
// its routes and watches the per-route counters move in the scrape.
func TestMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.New(broker.Config{Host: "127.0.0.1", Port: -1, MetricsAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Shutdown(context.Background()) })

	r := route.NewRouter()
	g := r.Group(3)
	route.Handle(g, 0, func(_ *logic.Ctx, n int64) (int64, error) { return 2 * n, nil })
	route.Handle(g, 1, func(_ *logic.Ctx, _ int64) (int64, error) { return 0, errs.New(4201, "no gold") })
	srv, err := logic.New(logic.Config{Service: "calc", InstanceID: "calc-1", Router: r, Brokers: []string{b.ClientURL()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	nc, err := nats.Connect(b.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	cl, err := logic.NewClient(ctx, logic.ClientConfig{Conn: nc})
	if err != nil {
		t.Fatal(err)
	}

	const (
		calls    = `iogo_route_calls_total{instance="calc-1",route="3-0",service="calc"} `
		errCount = `iogo_route_errors_total{code="4201",instance="calc-1",route="3-1",service="calc"} `
		hist     = `iogo_route_duration_seconds_count{instance="calc-1",route="3-0",service="calc"} `
	)
	url := b.MetricsURL()
	if url == "" {
		t.Fatal("no metrics URL")
	}
	// Before any call: the instance is there, its counters at zero.
	expect(t, url, calls+"0", `iogo_logic_instances 1`, `go_goroutines`)
	for range 5 {
		if _, err := logic.Call[int64, int64](ctx, cl, 3, 0, 1); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if _, err := logic.Call[int64, int64](ctx, cl, 3, 1, 1); errs.Code(err) != 4201 {
			t.Fatal(err)
		}
	}
	expect(t, url, calls+"5", hist+"5", errCount+"2",
		`iogo_executor_wait_seconds_count{instance="calc-1",service="calc"} 7`,
		`iogo_executor_run_seconds_count{instance="calc-1",service="calc"} 7`,
		`iogo_executor_longest_queue{instance="calc-1",service="calc"} 0`)

	// The same figures through NATS, as `nats micro stats calc` shows them.
	snaps, err := stats.Gather(ctx, nc)
	if err != nil || len(snaps) != 1 || snaps[0].Instance != "calc-1" || snaps[0].Routes[0].Calls != 5 {
		t.Fatalf("gather: %+v, %v", snaps, err)
	}
	s := snaps[0]
	if len(s.RecentErrors) != 2 || s.RecentErrors[0].Code != 4201 || s.RecentErrors[0].Msg != "no gold" || s.RecentErrors[0].Route != "3-1" {
		t.Errorf("recent errors %+v", s.RecentErrors)
	}
	if len(s.Slowest) != 7 || s.Run.Count != 7 || s.Wait.Count != 7 {
		t.Errorf("slowest %d, run %+v, wait %+v", len(s.Slowest), s.Run, s.Wait)
	}
	if m := s.Routes[0].CallsPerMinute; m[len(m)-1]+m[len(m)-2] != 5 {
		t.Errorf("calls per minute %v", m)
	}
}

// expect scrapes url until its body contains every line prefix in want.
func expect(t *testing.T, url string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		body, err := scrape(url)
		missing := ""
		for _, w := range want {
			if err == nil && !strings.Contains(body, w) {
				missing = w
				break
			}
		}
		if err == nil && missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("scrape: %v; missing %q in:\n%s", err, missing, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func scrape(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
