package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/iogo-dev/iogo/pkg/stats"
	"github.com/nats-io/nats.go"
)

// metricsServer serves /metrics on Config.MetricsAddr (package stats),
// and the dashboard (dashboard.go).
type metricsServer struct {
	srv  *http.Server
	ln   net.Listener
	nc   *nats.Conn
	done chan struct{}
}

// startMetrics starts the metrics server when MetricsAddr is set.
func (b *Broker) startMetrics() error {
	if b.cfg.MetricsAddr == "" {
		return nil
	}
	nc, err := b.InProcessConn(nats.Name(b.cfg.Name + "-metrics"))
	if err != nil {
		return fmt.Errorf("broker: metrics connection: %w", err)
	}
	ln, err := net.Listen("tcp", b.cfg.MetricsAddr)
	if err != nil {
		nc.Close()
		return fmt.Errorf("broker: metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", stats.Handler(nc))
	traceURL := b.cfg.TraceURL
	if traceURL == "" {
		traceURL = os.Getenv(EnvTraceURL)
	}
	(&dashboard{srv: b.srv.Load, nc: nc, traceURL: traceURL}).register(mux)
	m := &metricsServer{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		ln:   ln,
		nc:   nc,
		done: make(chan struct{}),
	}
	b.mu.Lock()
	if b.closed.Load() {
		b.mu.Unlock()
		_ = ln.Close()
		nc.Close()
		return ErrClosed
	}
	b.metrics = m
	b.mu.Unlock()
	go func() {
		defer close(m.done)
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			b.log.Warn("metrics server", slog.Any("error", err))
		}
	}()
	b.log.Info("metrics served", slog.String("url", "http://"+ln.Addr().String()+"/metrics"))
	return nil
}

// stop stops the server; nil-safe.
func (m *metricsServer) stop() {
	if m == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = m.srv.Shutdown(ctx)
	<-m.done
	m.nc.Close()
}

// MetricsURL returns the URL of the /metrics endpoint, or "" when
// MetricsAddr is off or before Start.
func (b *Broker) MetricsURL() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.metrics == nil {
		return ""
	}
	return "http://" + b.metrics.ln.Addr().String() + "/metrics"
}
