package external

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Gate metrics on Config.MetricsAddr.
var (
	descSessions = prometheus.NewDesc("iogo_gate_sessions", "Client connections open on the gate.", []string{"gate"}, nil)
	descPending  = prometheus.NewDesc("iogo_gate_pending_requests", "Requests forwarded and not yet answered.", []string{"gate"}, nil)
)

// gateCollector reads the gate's gauges at every scrape.
type gateCollector struct{ s *Server }

func (c gateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descSessions; ch <- descPending }

func (c gateCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descSessions, prometheus.GaugeValue, float64(c.s.Sessions()), c.s.cfg.ID)
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(c.s.pending.len()), c.s.cfg.ID)
}

// startMetrics serves /metrics when MetricsAddr is set; teardown stops it.
func (s *Server) startMetrics(ctx context.Context) error {
	if s.cfg.MetricsAddr == "" {
		return nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("external: metrics: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(gateCollector{s}, collectors.NewGoCollector())
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s.mtr = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.mtrAddr.Store(ln.Addr().String())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.mtr.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn("metrics server stopped", "err", err)
		}
	}()
	return nil
}

// MetricsURL returns the URL of the gate's /metrics endpoint, or "" when
// MetricsAddr is off or before Start.
func (s *Server) MetricsURL() string {
	a, _ := s.mtrAddr.Load().(string)
	if a == "" {
		return ""
	}
	return "http://" + a + "/metrics"
}
