package broker_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/registry"
	"github.com/iogo-dev/iogo/pkg/stats"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestDashboardAPI checks /api/cluster against a registry entry and a
// logic server's stats, and that / serves the page.
func TestDashboardAPI(t *testing.T) {
	cfg := localConfig()
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.TraceURL = "http://jaeger:16686/trace/{traceID}"
	b := startBroker(t, cfg)
	base := b.DashboardURL()
	if base == "" {
		t.Fatal("DashboardURL is empty")
	}
	nc, err := nats.Connect(b.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Open(t.Context(), js)
	if err != nil {
		t.Fatal(err)
	}
	route := registry.Route{Cmd: 7, Sub: 2, Service: "demo", Access: registry.Access(0), Doc: "echo"}
	if err := reg.PublishRoutes(t.Context(), []registry.Route{route}); err != nil {
		t.Fatal(err)
	}
	if err := reg.Heartbeat(t.Context(), registry.Instance{ID: "demo-1", Service: "demo", Started: time.Now(), Routes: []int32{route.Merge()}}); err != nil {
		t.Fatal(err)
	}
	rec := stats.NewRecorder(stats.Config{Service: "demo", Instance: "demo-1", Routes: []int32{route.Merge()}})
	rec.Observe(route.Merge(), time.Millisecond, 0)
	svc, err := stats.Register(nc, "demo", "demo-1", "1.0.0", func() stats.Snapshot { return rec.Snapshot(stats.Gauges{}) })
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = svc.Stop() }()
	gate, err := stats.RegisterGate(nc, "ext-1", "", func() stats.GateSnapshot {
		return stats.GateSnapshot{Gate: "ext-1", Sessions: map[string]int64{"ws": 2, "tcp": 1}, Users: 2}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = gate.Stop() }()

	var c broker.Cluster
	waitFor(t, 10*time.Second, func() error {
		c = broker.Cluster{}
		if err := getJSON(base+"api/cluster", &c); err != nil {
			return err
		}
		if len(c.Stats) != 1 || len(c.Stats[0].Routes) != 1 || c.Stats[0].Routes[0].Calls != 1 {
			return fmt.Errorf("stats %+v", c.Stats)
		}
		if len(c.Gates) != 1 || c.Gates[0].Gate != "ext-1" || c.Gates[0].Connections() != 3 || c.Gates[0].Users != 2 {
			return fmt.Errorf("gates %+v", c.Gates)
		}
		return nil
	})
	if len(c.Brokers) != 1 || !c.Brokers[0].Local || c.Brokers[0].JetStream != "ok" || len(c.Brokers[0].URLs) == 0 {
		t.Errorf("brokers = %+v", c.Brokers)
	}
	if len(c.Services) != 1 || c.Services[0].Name != "demo" || len(c.Services[0].Instances) != 1 ||
		c.Services[0].Instances[0].ID != "demo-1" || strings.Join(c.Services[0].Instances[0].Routes, ",") != "7-2" {
		t.Errorf("services = %+v", c.Services)
	}
	if len(c.Routes) != 1 || c.Routes[0].Service != "demo" || c.Routes[0].Doc != "echo" {
		t.Errorf("routes = %+v", c.Routes)
	}
	if c.TraceURL != cfg.TraceURL || len(c.Errors) != 0 {
		t.Errorf("traceURL %q, errors %v", c.TraceURL, c.Errors)
	}

	resp, err := http.Get(base)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "/api/cluster") {
		t.Errorf("GET / = %d, page without the API call", resp.StatusCode)
	}
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
