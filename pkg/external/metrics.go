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

// Gate metrics on Config.MetricsAddr, read from the gate's Stats (stats.go).
var (
	descSessions  = prometheus.NewDesc("iogo_gate_sessions", "Client connections open on the gate.", []string{"gate"}, nil)
	descTransport = prometheus.NewDesc("iogo_gate_transport_sessions", "Client connections open on the gate by transport.", []string{"gate", "transport"}, nil)
	descUsers     = prometheus.NewDesc("iogo_gate_users", "Logged-in users on the gate.", []string{"gate"}, nil)
	descPending   = prometheus.NewDesc("iogo_gate_pending_requests", "Requests forwarded and not yet answered.", []string{"gate"}, nil)
	descRequests  = prometheus.NewDesc("iogo_gate_requests_total", "Business requests received from clients.", []string{"gate"}, nil)
	descErrors    = prometheus.NewDesc("iogo_gate_errors_total", "Error replies sent to clients by code.", []string{"gate", "code"}, nil)
	descBytesIn   = prometheus.NewDesc("iogo_gate_received_bytes_total", "Envelope bytes read from clients.", []string{"gate"}, nil)
	descBytesOut  = prometheus.NewDesc("iogo_gate_sent_bytes_total", "Bytes written to clients.", []string{"gate"}, nil)

	// The edge (edge.go): connections refused, and handshakes timed out.
	descRefused = prometheus.NewDesc("iogo_gate_refused_total",
		"Connections refused before they became sessions, by transport and reason "+
			"(addr_limit: MaxConnsPerAddr; untrusted_proxy: a PROXY header from an untrusted address; "+
			"bad_proxy_header: a malformed one from a trusted proxy).", []string{"gate", "transport", "reason"}, nil)
	descHandshakeTimeouts = prometheus.NewDesc("iogo_gate_handshake_timeouts_total",
		"Connections closed for not finishing their handshake (WebSocket upgrade, first TCP/KCP frame, "+
			"PROXY header) within HandshakeTimeout.", []string{"gate", "transport"}, nil)
)

// gateCollector reads the gate's stats at every scrape.
type gateCollector struct{ s *Server }

func (c gateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSessions, descTransport, descUsers, descPending, descRequests, descErrors, descBytesIn, descBytesOut,
		descRefused, descHandshakeTimeouts} {
		ch <- d
	}
}

func (c gateCollector) Collect(ch chan<- prometheus.Metric) {
	st, id := c.s.Stats(), c.s.cfg.ID
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{id}, labels...)...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{id}, labels...)...)
	}
	gauge(descSessions, float64(st.Connections()))
	for t, n := range st.Sessions {
		gauge(descTransport, float64(n), t)
	}
	gauge(descUsers, float64(st.Users))
	gauge(descPending, float64(st.Pending))
	counter(descRequests, st.Requests)
	for code, n := range st.Errors {
		counter(descErrors, n, code)
	}
	counter(descBytesIn, st.BytesIn)
	counter(descBytesOut, st.BytesOut)
	e := c.s.edge
	for t, name := range transports[:len(transports)-1] {
		for r, reason := range refusalNames {
			counter(descRefused, e.refused[t][r].Load(), name, reason)
		}
		counter(descHandshakeTimeouts, e.timeouts[t].Load(), name)
	}
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
	reg.MustRegister(gateCollector{s}, authCollector{s}, kcpCollector{s}, collectors.NewGoCollector())
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
