package stats

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Gather timing: Gather returns once no reply has come for GatherQuiet, or
// after GatherTimeout at most.
const (
	GatherQuiet   = 100 * time.Millisecond
	GatherTimeout = 2 * time.Second
)

// Gathered are the snapshots of the iogo instances that answered a
// gather, each sorted by service and instance.
type Gathered struct {
	Logic []Snapshot
	Gates []GateSnapshot
}

// Gather asks every micro service on nc's account for its STATS
// ($SRV.STATS) and returns the Snapshots of the iogo logic servers among
// them, sorted by service and instance.
func Gather(ctx context.Context, nc *nats.Conn) ([]Snapshot, error) {
	g, err := GatherAll(ctx, nc)
	return g.Logic, err
}

// GatherAll is Gather for logic servers and gates alike.
func GatherAll(ctx context.Context, nc *nats.Conn) (Gathered, error) {
	var out Gathered
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return out, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	subject, err := micro.ControlSubject(micro.StatsVerb, "", "")
	if err != nil {
		return out, err
	}
	if err := nc.PublishRequest(subject, inbox, nil); err != nil {
		return out, err
	}
	ctx, cancel := context.WithTimeout(ctx, GatherTimeout)
	defer cancel()
	for {
		qctx, qcancel := context.WithTimeout(ctx, GatherQuiet)
		m, err := sub.NextMsgWithContext(qctx)
		qcancel()
		if err != nil {
			break // quiet, or out of time
		}
		var st micro.Stats
		if json.Unmarshal(m.Data, &st) != nil || st.Metadata[MetaInstance] == "" {
			continue // not an iogo instance
		}
		for _, ep := range st.Endpoints {
			if ep.Name != Endpoint {
				continue
			}
			switch st.Metadata[MetaKind] {
			case KindGate:
				var snap GateSnapshot
				if json.Unmarshal(ep.Data, &snap) == nil {
					out.Gates = append(out.Gates, snap)
				}
			case "", KindLogic:
				var snap Snapshot
				if json.Unmarshal(ep.Data, &snap) == nil {
					out.Logic = append(out.Logic, snap)
				}
			}
		}
	}
	slices.SortFunc(out.Logic, func(a, b Snapshot) int {
		return strings.Compare(a.Service+"\x00"+a.Instance, b.Service+"\x00"+b.Instance)
	})
	slices.SortFunc(out.Gates, func(a, b GateSnapshot) int { return strings.Compare(a.Gate, b.Gate) })
	return out, ctx.Err()
}

// Metric descriptions exported by Collector.
var (
	descCalls = prometheus.NewDesc("iogo_route_calls_total",
		"Requests served per route.", []string{"service", "instance", "route"}, nil)
	descErrors = prometheus.NewDesc("iogo_route_errors_total",
		"Requests that failed per route and error code.", []string{"service", "instance", "route", "code"}, nil)
	descShed = prometheus.NewDesc("iogo_route_shed_total",
		"Requests answered without running their handler, per route and reason (expired, late, busy, inbound).",
		[]string{"service", "instance", "route", "reason"}, nil)
	descDropped = prometheus.NewDesc("iogo_logic_dropped_total",
		"Messages the broker client dropped before a logic server saw them (full subscription buffer); never answered.",
		[]string{"service", "instance"}, nil)
	descUnrouted = prometheus.NewDesc("iogo_logic_unrouted_total",
		"Requests a logic server answered with an error before finding a route (bad metadata, unknown route).",
		[]string{"service", "instance"}, nil)
	descLatency = prometheus.NewDesc("iogo_route_duration_seconds",
		"Time to serve a request per route.", []string{"service", "instance", "route"}, nil)
	descQueued = prometheus.NewDesc("iogo_executor_queued",
		"Requests and functions waiting on a logic server's executors.", []string{"service", "instance"}, nil)
	descExecutors = prometheus.NewDesc("iogo_executors_active",
		"Executors running on a logic server.", []string{"service", "instance"}, nil)
	descInbound = prometheus.NewDesc("iogo_inbound_pending",
		"Requests received by a logic server and not yet dispatched.", []string{"service", "instance"}, nil)
	descLongest = prometheus.NewDesc("iogo_executor_longest_queue",
		"Tasks waiting on a logic server's busiest executor.", []string{"service", "instance"}, nil)
	descWait = prometheus.NewDesc("iogo_executor_wait_seconds",
		"Time tasks spent queued on their executor, over every executor of a logic server.", []string{"service", "instance"}, nil)
	descRun = prometheus.NewDesc("iogo_executor_run_seconds",
		"Time tasks ran on their executor, over every executor of a logic server.", []string{"service", "instance"}, nil)
	descUp = prometheus.NewDesc("iogo_logic_instances",
		"Logic server instances that answered the last scrape.", nil, nil)
)

// Collector is a prometheus.Collector of the logic servers' stats,
// gathered over nc at every scrape.
type Collector struct {
	nc *nats.Conn
}

// NewCollector returns a Collector gathering over nc.
func NewCollector(nc *nats.Conn) *Collector { return &Collector{nc: nc} }

// Describe sends the descriptions of the metrics.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCalls, descErrors, descShed, descDropped, descUnrouted, descLatency, descQueued, descExecutors, descInbound, descLongest, descWait, descRun, descUp} {
		ch <- d
	}
}

// Collect gathers the snapshots and sends them as metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	snaps, _ := Gather(context.Background(), c.nc)
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, float64(len(snaps)))
	for _, s := range snaps {
		ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(s.Queued), s.Service, s.Instance)
		ch <- prometheus.MustNewConstMetric(descExecutors, prometheus.GaugeValue, float64(s.Executors), s.Service, s.Instance)
		ch <- prometheus.MustNewConstMetric(descInbound, prometheus.GaugeValue, float64(s.Inbound), s.Service, s.Instance)
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.Dropped), s.Service, s.Instance)
		ch <- prometheus.MustNewConstMetric(descUnrouted, prometheus.CounterValue, float64(s.Unrouted), s.Service, s.Instance)
		ch <- prometheus.MustNewConstMetric(descLongest, prometheus.GaugeValue, float64(s.LongestQueue), s.Service, s.Instance)
		ch <- constHistogram(descWait, s.Buckets, s.Wait.Counts, s.Wait.Count, s.Wait.Seconds, s.Service, s.Instance)
		ch <- constHistogram(descRun, s.Buckets, s.Run.Counts, s.Run.Count, s.Run.Seconds, s.Service, s.Instance)
		for _, r := range s.Routes {
			ch <- prometheus.MustNewConstMetric(descCalls, prometheus.CounterValue, float64(r.Calls), s.Service, s.Instance, r.Route)
			for code, n := range r.Errors {
				ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(n), s.Service, s.Instance, r.Route, code)
			}
			for reason, n := range r.Shed {
				ch <- prometheus.MustNewConstMetric(descShed, prometheus.CounterValue, float64(n), s.Service, s.Instance, r.Route, reason)
			}
			ch <- constHistogram(descLatency, s.Buckets, r.Latency, r.Calls, r.Seconds, s.Service, s.Instance, r.Route)
		}
	}
}

// constHistogram builds a histogram metric from per-bucket counts (not
// cumulative).
func constHistogram(d *prometheus.Desc, bounds []float64, counts []uint64, n uint64, sum float64, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(bounds))
	var cum uint64
	for i, ub := range bounds {
		if i < len(counts) {
			cum += counts[i]
		}
		buckets[ub] = cum
	}
	return prometheus.MustNewConstHistogram(d, n, sum, buckets, labels...)
}

// Handler returns an HTTP handler serving, in Prometheus format, the logic
// servers' stats gathered over nc plus the serving process's Go runtime
// and process metrics.
func Handler(nc *nats.Conn) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(nc), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
