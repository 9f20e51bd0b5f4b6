package logic

import (
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/stats"
)

// Overload shedding.
//
// Every request carries its caller's timeout (fabric.HeaderTimeout). When
// it leaves its queue — the inbound buffer, then its user's executor — the
// server knows how long the caller still waits (left: the time spent
// queued is already charged to the request) and decides (routeLoad.admit):
//
//   - left is gone: shed (stats.ShedExpired). Nobody waits for the answer.
//   - left is shorter than the route's handler-time estimate: shed
//     (stats.ShedLate), the answer would come too late; except, when no
//     request of the route is running, one probe request at a time (at
//     most every shedProbeEvery), which runs anyway.
//   - otherwise: run.
//
// The estimate is the part that can go wrong. A handler's time includes any
// queue hidden inside it (a mutex, a semaphore of password hashes, a
// connection pool), so under a flood it grows with the number of requests
// running at once; once it exceeds the callers' timeout every request is
// shed, and if only requests that ran fed it — as before — nothing would
// ever bring it down again: the route would stay shut after the flood (the
// overload latch of issue 13). So, as CoDel judges a queue only on fresh
// evidence and Netflix's concurrency limits keep probing the real latency:
//
//   - the estimate decays with time (half-life shedHalfLife, once it is
//     shedFresh old) when no request feeds it, so old evidence stops
//     shutting the route;
//   - while a route sheds and none of its requests is running (nothing
//     will refresh the estimate, and the route sits idle), one request at
//     a time, at most every shedProbeEvery, runs as a probe: a slow probe
//     keeps the route shedding, a fast one replaces the estimate at once,
//     so the route opens within one probe of the load falling, not after
//     a slow moving average has caught up. While requests of the route do
//     run, they refresh the estimate, and no probe is spent on an answer
//     that would come too late (a sustained overload).
//
// What the estimate cannot undo is work a handler has already started: a
// handler that waits for a shared resource should bound the wait by
// Ctx.Deadline, so that requests nobody waits for leave the queue.
//
// Shedding works only with an estimate, that is while stats are on
// (Config.DisableStats false); expired requests are shed either way.
//
// Every shed is counted (stats.Recorder.Shed: per route and reason, in the
// micro-service stats and Prometheus' iogo_route_shed_total) and logged at
// most once per route every shedLogEvery, with the counts since the last
// line.

const (
	// shedHalfLife is the half-life of a route's handler-time estimate
	// when no request feeds it.
	shedHalfLife = time.Second
	// shedFresh is how long an estimate stays whole before it decays: a
	// route fed more often than that (a steady load) keeps its moving
	// average unbiased.
	shedFresh = 100 * time.Millisecond
	// shedProbeEvery is the least time between two probes of a shedding
	// route.
	shedProbeEvery = 100 * time.Millisecond
	// shedLogEvery is the least time between two log lines about the
	// requests shed on one route.
	shedLogEvery = 10 * time.Second
	// shedWeight is the weight of a new handler time in the estimate's
	// moving average (1/shedWeight).
	shedWeight = 8
)

// routeLoad is one route's handler-time estimate and shed counts, shared by
// the copies of a table's route. Its fields are atomics read and written
// without a lock: concurrent updates may lose one another, which costs an
// estimate some precision, never correctness.
type routeLoad struct {
	est   atomic.Int64 // handler time estimate, ns, as of stamp
	stamp atomic.Int64 // when est was last fed, Unix ns

	running atomic.Int64 // requests of the route running their handler
	probing atomic.Bool  // a probe is running
	probeAt atomic.Int64 // when the last probe was let through, Unix ns

	shed     [stats.NumShedReasons]atomic.Uint64 // since the last log line
	loggedAt atomic.Int64                        // the last log line, Unix ns
}

// estimate returns the handler-time estimate at now, decayed by the time
// since it was last fed beyond shedFresh.
func (l *routeLoad) estimate(now time.Time) time.Duration {
	est := l.est.Load()
	if est <= 0 {
		return 0
	}
	age := now.UnixNano() - l.stamp.Load() - int64(shedFresh)
	if age <= 0 {
		return time.Duration(est)
	}
	return time.Duration(float64(est) * math.Exp2(-float64(age)/float64(shedHalfLife)))
}

// admit decides whether a request that leaves its queue at now, with left
// until its caller stops waiting, runs. probe says it runs as the route's
// probe (observe must then be told); when run is false, why says why it
// is shed. A nil routeLoad (a route outside a Table) only sheds what has
// expired.
func (l *routeLoad) admit(now time.Time, left time.Duration) (run, probe bool, why stats.ShedReason) {
	if left <= 0 {
		return false, false, stats.ShedExpired
	}
	if l == nil || left >= time.Duration(l.est.Load()) || left >= l.estimate(now) {
		return true, false, 0
	}
	// A probe only when no request of the route runs: while some do,
	// they will feed the estimate, and a probe would only be one more
	// request answered too late; when none does, the route would sit idle
	// on an estimate nothing refreshes.
	ns := now.UnixNano()
	if last := l.probeAt.Load(); l.running.Load() == 0 && ns-last >= int64(shedProbeEvery) &&
		!l.probing.Load() && l.probeAt.CompareAndSwap(last, ns) {
		l.probing.Store(true)
		return true, true, 0
	}
	return false, false, stats.ShedLate
}

// begin and end bracket a handler's run: admit probes only a route that
// has none running.
func (l *routeLoad) begin() {
	if l != nil {
		l.running.Add(1)
	}
}

func (l *routeLoad) end() {
	if l != nil {
		l.running.Add(-1)
	}
}

// observe feeds one handler time, of a request that ended at now, into the
// estimate: a moving average (weight 1/shedWeight) of the decayed estimate
// and took. A probe faster than the estimate replaces it: the load has
// fallen, and the route opens at once.
func (l *routeLoad) observe(now time.Time, took time.Duration, probe bool) {
	if l == nil {
		return
	}
	old := l.estimate(now)
	next := old + (took-old)/shedWeight
	if probe {
		if took < old {
			next = took
		}
		l.probing.Store(false)
	}
	l.est.Store(int64(max(next, 0)))
	l.stamp.Store(now.UnixNano())
}

// count adds one shed request for why and reports whether a log line is
// due (the first shed in shedLogEvery); the caller then logs what flush
// returns.
func (l *routeLoad) count(now time.Time, why stats.ShedReason) bool {
	l.shed[why].Add(1)
	last := l.loggedAt.Load()
	return now.UnixNano()-last >= int64(shedLogEvery) && l.loggedAt.CompareAndSwap(last, now.UnixNano())
}

// flush takes the counts since the last log line; total is their sum.
func (l *routeLoad) flush() (counts [stats.NumShedReasons]uint64, total uint64) {
	for i := range l.shed {
		counts[i] = l.shed[i].Swap(0)
		total += counts[i]
	}
	return counts, total
}

// shed answers request t with e without running its handler,
// counts it (stats, and the log line of the route) and logs when a line
// is due. began is when it began to run (zero when it never reached an
// executor).
func (s *Server) shed(t *task, why stats.ShedReason, e *errs.Error) {
	now := time.Now()
	if s.stats != nil {
		s.stats.Shed(t.route.CmdMerge(), why)
		began := t.at
		if began.IsZero() {
			began = now
		}
		s.observe(t, nil, began, e)
	}
	if t.route.load != nil && t.route.load.count(now, why) {
		s.logShed(t.route, now)
	}
	s.respondError(t.msg, e)
}

// logShed writes the line of route r's sheds since its last line.
func (s *Server) logShed(r *Route, now time.Time) {
	counts, total := r.load.flush()
	if total == 0 {
		return
	}
	attrs := make([]slog.Attr, 0, 3+stats.NumShedReasons)
	attrs = append(attrs, slog.String("route", r.String()), slog.Uint64("shed", total))
	for i, n := range counts {
		if n > 0 {
			attrs = append(attrs, slog.Uint64(stats.ShedReason(i).String(), n))
		}
	}
	if est := r.load.estimate(now); est > 0 {
		attrs = append(attrs, slog.Duration("handler_estimate", est))
	}
	s.log.LogAttrs(s.ctx, slog.LevelWarn, "requests shed under load", attrs...)
}

// logSheds writes the line of every route whose sheds have not been logged
// for shedLogEvery: a route that stopped shedding still reports the count
// since its last line. The dispatch loop calls it every second.
func (s *Server) logSheds(now time.Time) {
	routes := s.table.Routes()
	for i := range routes {
		l := routes[i].load
		if l == nil {
			continue
		}
		last := l.loggedAt.Load()
		if now.UnixNano()-last < int64(shedLogEvery) || !l.pending() {
			continue
		}
		if l.loggedAt.CompareAndSwap(last, now.UnixNano()) {
			s.logShed(&routes[i], now)
		}
	}
}

// pending reports whether sheds wait for a log line.
func (l *routeLoad) pending() bool {
	for i := range l.shed {
		if l.shed[i].Load() > 0 {
			return true
		}
	}
	return false
}
