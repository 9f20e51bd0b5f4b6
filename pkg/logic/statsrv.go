package logic

import (
	"log/slog"
	"time"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/stats"
	"github.com/iogo-dev/iogo/pkg/trace"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// Stats of a logic server (package stats): a Recorder fed by run, and a
// NATS micro service publishing its snapshots, since a logic server opens
// no port.

func newRecorder(s *Server) *stats.Recorder {
	routes := s.table.Routes()
	merges := make([]int32, len(routes))
	for i := range routes {
		merges[i] = routes[i].CmdMerge()
	}
	cfg := s.cfg.Stats
	cfg.Service, cfg.Instance, cfg.Routes = s.cfg.Service, s.cfg.InstanceID, merges
	return stats.NewRecorder(cfg)
}

// observe records request t, which began to run at began and ended now
// with e (nil for success), and returns how long it took; span is its
// server span, nil when not traced.
func (s *Server) observe(t *task, span oteltrace.Span, began time.Time, e *errs.Error) time.Duration {
	took := time.Since(began)
	c := stats.Call{Route: t.route.CmdMerge(), End: began.Add(took), Took: took, User: t.meta.UserID}
	if e != nil {
		c.Code, c.Msg = e.Code, e.Msg
	}
	switch {
	case span != nil:
		c.TraceID = span.SpanContext().TraceID()
	case e != nil && t.msg != nil:
		// Not traced here, but perhaps by the gate or a calling server:
		// a failed request is worth the parse.
		c.TraceID = trace.RemoteTraceID(t.msg.Header)
	}
	s.stats.Record(&c)
	return took
}

// Stats returns a snapshot of the server's per-route stats and queues; the
// zero Snapshot with DisableStats.
func (s *Server) Stats() stats.Snapshot {
	if s.stats == nil {
		return stats.Snapshot{}
	}
	var inbound int64
	if s.inbox != nil {
		inbound = s.inbox.n.Load() + int64(len(s.in))
	}
	g := stats.Gauges{Queued: s.exec.queued.Load(), Executors: s.exec.active.Load(), Inbound: inbound,
		Dropped: s.dropped(), Unrouted: s.unroutedN.Load()}
	if n, k := s.exec.longest(); n > 0 {
		g.LongestQueue, g.LongestKey = n, k.String()
	}
	return s.stats.Snapshot(g)
}

// startStats registers the server as a NATS micro service. A failure
// (such as a service name micro does not accept) costs the stats only, so
// it is logged, not returned.
func (s *Server) startStats() error {
	if s.stats == nil || len(s.table.Routes()) == 0 {
		return nil
	}
	svc, err := stats.Register(s.nc, s.cfg.Service, s.cfg.InstanceID, s.cfg.Version, s.Stats)
	if err != nil {
		s.log.Warn("stats not published", slog.Any("error", err))
		return nil
	}
	s.micro = svc
	return nil
}

// stopStats stops the micro service; safe to call more than once.
func (s *Server) stopStats() {
	if s.micro == nil {
		return
	}
	if err := s.micro.Stop(); err != nil {
		s.log.Warn("stats service stop", slog.Any("error", err))
	}
	s.micro = nil
}
