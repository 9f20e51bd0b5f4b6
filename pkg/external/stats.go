package external

import (
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iogo-dev/iogo/pkg/stats"
)

// Gate stats: what the gate serves, published as an instance of the NATS
// micro service stats.GateService (its stats endpoint answers
// iogo.stats.<gate ID>), which the broker's dashboard gathers, and served
// on the gate's own /metrics (metrics.go). Counting costs a few atomic
// additions per request and per write batch.

// transports names the transports whose sessions are counted apart; any
// other (tests' fakes) counts as "other".
var transports = [...]string{"ws", "tcp", "kcp", "other"}

func transportIndex(name string) uint8 {
	for i, t := range transports[:len(transports)-1] {
		if t == name {
			return uint8(i)
		}
	}
	return uint8(len(transports) - 1)
}

// gateStats are a gate's counters. The zero value is not usable; see
// newGateStats.
type gateStats struct {
	started  time.Time
	sessions [len(transports)]atomic.Int64
	requests atomic.Uint64
	perSec   *stats.Series // requests per second, for the rate
	perMin   *stats.Series // requests per minute
	errMin   *stats.Series // error replies per minute
	bytesIn  atomic.Uint64
	bytesOut atomic.Uint64

	mu     sync.Mutex // guards errors
	errors map[int32]uint64
}

func newGateStats() *gateStats {
	return &gateStats{
		started: time.Now(),
		perSec:  stats.NewSeries(stats.RateSeconds+1, time.Second),
		perMin:  stats.NewSeries(stats.Minutes, time.Minute),
		errMin:  stats.NewSeries(stats.Minutes, time.Minute),
		errors:  make(map[int32]uint64),
	}
}

// request counts one business request from a client.
func (g *gateStats) request() {
	now := time.Now()
	g.requests.Add(1)
	g.perSec.Add(now, 1)
	g.perMin.Add(now, 1)
}

// fail counts one error reply to a client.
func (g *gateStats) fail(code int32) {
	g.mu.Lock()
	g.errors[code]++
	g.mu.Unlock()
	g.errMin.Add(time.Now(), 1)
}

// Stats returns a snapshot of the gate's figures.
func (s *Server) Stats() stats.GateSnapshot {
	g := s.stats
	now := time.Now()
	out := stats.GateSnapshot{
		Gate:              s.cfg.ID,
		Time:              now.UTC(),
		Started:           g.started.UTC(),
		Addrs:             map[string]string{},
		Sessions:          make(map[string]int64, len(transports)),
		Pending:           int64(s.pending.len()),
		Requests:          g.requests.Load(),
		RequestsPerSecond: float64(g.perSec.Sum(now, stats.RateSeconds)) / stats.RateSeconds,
		RequestsPerMinute: g.perMin.Values(now),
		ErrorsPerMinute:   g.errMin.Values(now),
		BytesIn:           g.bytesIn.Load(),
		BytesOut:          g.bytesOut.Load(),
	}
	for i, t := range transports {
		if n := g.sessions[i].Load(); n != 0 || i < len(transports)-1 {
			out.Sessions[t] = n
		}
	}
	for t, a := range map[string]string{"ws": addrString(s.WSAddr()), "tcp": addrString(s.TCPAddr()), "kcp": addrString(s.KCPAddr())} {
		if a != "" {
			out.Addrs[t] = a
		}
	}
	s.mu.RLock()
	out.Users = int64(len(s.users))
	s.mu.RUnlock()
	g.mu.Lock()
	if len(g.errors) > 0 {
		out.Errors = make(map[string]uint64, len(g.errors))
		for c, n := range g.errors {
			out.Errors[strconv.Itoa(int(c))] = n
		}
	}
	g.mu.Unlock()
	return out
}

// startStats registers the gate as a micro service instance. A failure
// costs the stats only, so it is logged, not returned.
func (s *Server) startStats() {
	svc, err := stats.RegisterGate(s.nc, s.cfg.ID, "", s.Stats)
	if err != nil {
		s.log.Warn("gate stats not published", slog.Any("error", err))
		return
	}
	s.micro = svc
}

// stopStats stops the micro service; safe to call more than once.
func (s *Server) stopStats() {
	if s.micro == nil {
		return
	}
	if err := s.micro.Stop(); err != nil {
		s.log.Warn("gate stats service stop", slog.Any("error", err))
	}
	s.micro = nil
}
