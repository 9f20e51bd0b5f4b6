package stats

import (
	"encoding/hex"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Buckets are the upper bounds, in seconds, of the latency histograms.
var Buckets = [...]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// Time series of every route: calls and errors per minute over the last
// hour, and per hour over the last day.
const (
	Minutes = 60
	Hours   = 24
)

// Defaults of a Recorder's Config.
const (
	// DefaultRecentErrors is how many of the most recent failed requests a
	// Recorder keeps.
	DefaultRecentErrors = 20
	// DefaultSlowest is how many of the slowest requests of the current
	// window a Recorder keeps.
	DefaultSlowest = 10
	// DefaultSlowWindow is the window of the slowest requests.
	DefaultSlowWindow = time.Minute
)

// Config configures a Recorder. Only Service and Instance have no default.
type Config struct {
	Service, Instance string
	// Routes are the merged routes (cmd<<16 | sub) to count; others are
	// ignored.
	Routes []int32
	// Now is the wall clock of the time series and samples when Record is
	// not given the time. Default time.Now.
	Now func() time.Time
	// RecentErrors is how many of the most recent failed requests to keep.
	// Default DefaultRecentErrors; negative keeps none.
	RecentErrors int
	// Slowest is how many of the slowest requests of the current window to
	// keep. Default DefaultSlowest; negative keeps none.
	Slowest int
	// SlowMin is the least duration of a request kept as one of the
	// slowest; 0 keeps the slowest, however fast.
	SlowMin time.Duration
	// SlowWindow is the window of the slowest requests; the Snapshot shows
	// the slowest of the current and the previous window. Rounded down to
	// whole seconds. Default DefaultSlowWindow.
	SlowWindow time.Duration
}

func (c Config) withDefaults() Config {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.RecentErrors == 0 {
		c.RecentErrors = DefaultRecentErrors
	}
	if c.Slowest == 0 {
		c.Slowest = DefaultSlowest
	}
	if c.SlowWindow < time.Second {
		c.SlowWindow = DefaultSlowWindow
	}
	return c
}

// Snapshot is the state of one logic server's Recorder, as published in
// its micro service's STATS data.
type Snapshot struct {
	Service  string `json:"service"`
	Instance string `json:"instance"`
	// Time is when the snapshot was taken: the last element of every
	// per-minute and per-hour series counts the period holding Time.
	Time time.Time `json:"time"`
	// Queued counts the requests and functions waiting on executors;
	// Executors the executors running; Inbound the requests received and
	// not yet handed to an executor; LongestQueue the tasks waiting on the
	// busiest executor, LongestKey names it ("user 42", "key room-7").
	Queued       int64  `json:"queued"`
	Executors    int64  `json:"executors"`
	Inbound      int64  `json:"inbound"`
	LongestQueue int64  `json:"longestQueue"`
	LongestKey   string `json:"longestKey,omitempty"`
	// Dropped counts the messages (requests and events) that the broker
	// client library dropped before the server saw them, because a
	// subscription's buffer was full: nobody answered them. It stays 0
	// unless the server is starved of CPU for a long time (see
	// docs/architecture.md, "Failures, rollovers and overload").
	Dropped uint64 `json:"dropped"`
	// Unrouted counts the requests answered with an error before any
	// route was found: bad fabric metadata, or a route this server does
	// not serve.
	Unrouted uint64 `json:"unrouted"`
	// Wait is the time tasks (requests and Exec functions) spent queued on
	// their executor, Run the time they ran, over every executor of the
	// instance.
	Wait Histogram `json:"wait"`
	Run  Histogram `json:"run"`
	// Buckets are the histograms' upper bounds in seconds (Buckets).
	Buckets []float64    `json:"buckets"`
	Routes  []RouteStats `json:"routes"`
	// RecentErrors are the most recent failed requests, newest first;
	// Slowest the slowest requests of the current and previous window,
	// slowest first.
	RecentErrors []Sample `json:"recentErrors"`
	Slowest      []Sample `json:"slowest"`
}

// Histogram is a latency histogram over Buckets.
type Histogram struct {
	// Count is the number of observations, Seconds their sum.
	Count   uint64  `json:"count"`
	Seconds float64 `json:"seconds"`
	// Counts counts observations per bucket (not cumulative); the last
	// element counts those above the largest bound.
	Counts []uint64 `json:"counts"`
}

// RouteStats are the figures of one route.
type RouteStats struct {
	Route string `json:"route"` // "cmd-sub"
	Calls uint64 `json:"calls"`
	// Errors counts failed calls by error code.
	Errors map[string]uint64 `json:"errors,omitempty"`
	// Shed counts, by ShedReason name, the requests answered without
	// running the handler (also counted in Calls and Errors, under their
	// error code).
	Shed map[string]uint64 `json:"shed,omitempty"`
	// Latency counts calls per bucket (not cumulative); the last element
	// counts those slower than the largest bound.
	Latency []uint64 `json:"latency"`
	// Seconds is the total time spent serving the route.
	Seconds float64 `json:"seconds"`
	// Calls and errors per minute over the last Minutes minutes and per
	// hour over the last Hours hours, oldest first, by wall clock.
	CallsPerMinute  []uint64 `json:"callsPerMinute"`
	ErrorsPerMinute []uint64 `json:"errorsPerMinute"`
	CallsPerHour    []uint64 `json:"callsPerHour"`
	ErrorsPerHour   []uint64 `json:"errorsPerHour"`
}

// Sample is one request kept for display: a recent error or one of the
// slowest.
type Sample struct {
	Time    time.Time `json:"time"` // when it ended
	Route   string    `json:"route"`
	User    int64     `json:"user,omitempty"`
	Code    int32     `json:"code,omitempty"`
	Msg     string    `json:"msg,omitempty"`
	Seconds float64   `json:"seconds"`
	// TraceID is the request's trace ID (32 hex digits) when it was
	// traced.
	TraceID string `json:"traceID,omitempty"`
}

// Call is one served request, as Record takes it.
type Call struct {
	Route int32 // merged route
	// End is the wall-clock time the request ended; zero means now, by
	// the Recorder's clock.
	End  time.Time
	Took time.Duration
	// Code is the error code, 0 for success; Msg the error's message.
	Code int32
	Msg  string
	User int64
	// TraceID is the request's trace ID; zero when it was not traced.
	TraceID [16]byte
}

// Gauges are the queue figures Snapshot takes from the server.
type Gauges struct {
	Queued, Executors, Inbound, LongestQueue int64
	LongestKey                               string
	// Dropped and Unrouted are counters the server keeps itself
	// (Snapshot.Dropped, Snapshot.Unrouted).
	Dropped, Unrouted uint64
}

// Recorder counts one logic server's requests and executor tasks.
type Recorder struct {
	cfg    Config
	routes map[int32]*routeStat // fixed at creation
	order  []int32
	wait   histogram
	run    histogram
	errors ring
	slow   slowest
}

type routeStat struct {
	name      string
	calls     atomic.Uint64
	latency   histogram
	minCalls  *Series
	minErrors *Series
	hrCalls   *Series
	hrErrors  *Series
	mu        sync.Mutex // guards errors
	errors    map[int32]uint64
	shed      [NumShedReasons]atomic.Uint64
}

// histogram is the lock-free form of Histogram; its count is the sum of
// its buckets.
type histogram struct {
	nanos  atomic.Uint64
	counts [len(Buckets) + 1]atomic.Uint64
}

func (h *histogram) observe(d time.Duration) {
	h.nanos.Add(uint64(max(d, 0)))
	sec := d.Seconds()
	i := 0
	for i < len(Buckets) && sec > Buckets[i] {
		i++
	}
	h.counts[i].Add(1)
}

func (h *histogram) snapshot() Histogram {
	out := Histogram{Seconds: time.Duration(h.nanos.Load()).Seconds(), Counts: make([]uint64, len(h.counts))}
	for i := range h.counts {
		out.Counts[i] = h.counts[i].Load()
		out.Count += out.Counts[i]
	}
	return out
}

// NewRecorder returns a Recorder for cfg.
func NewRecorder(cfg Config) *Recorder {
	cfg = cfg.withDefaults()
	r := &Recorder{cfg: cfg, routes: make(map[int32]*routeStat, len(cfg.Routes))}
	for _, m := range cfg.Routes {
		if _, dup := r.routes[m]; dup {
			continue
		}
		r.routes[m] = &routeStat{
			name:      strconv.Itoa(int(m>>16)) + "-" + strconv.Itoa(int(m&0xffff)),
			minCalls:  NewSeries(Minutes, time.Minute),
			minErrors: NewSeries(Minutes, time.Minute),
			hrCalls:   NewSeries(Hours, time.Hour),
			hrErrors:  NewSeries(Hours, time.Hour),
		}
		r.order = append(r.order, m)
	}
	r.errors.buf = make([]sample, max(cfg.RecentErrors, 0))
	r.slow.init(cfg)
	return r
}

// Observe records one call of route merge that took took and ended now
// with error code code (0 for success). Unknown routes are ignored.
func (r *Recorder) Observe(merge int32, took time.Duration, code int32) {
	r.Record(&Call{Route: merge, Took: took, Code: code})
}

// Record records one served request. Unknown routes are ignored. A
// successful request that is not among the slowest costs a few atomic
// additions: no lock, no allocation.
func (r *Recorder) Record(c *Call) {
	st := r.routes[c.Route]
	if st == nil {
		return
	}
	end := c.End
	if end.IsZero() {
		end = r.cfg.Now()
	}
	st.calls.Add(1)
	st.latency.observe(c.Took)
	st.minCalls.Add(end, 1)
	st.hrCalls.Add(end, 1)
	if c.Code != 0 {
		st.mu.Lock()
		if st.errors == nil {
			st.errors = make(map[int32]uint64)
		}
		st.errors[c.Code]++
		st.mu.Unlock()
		st.minErrors.Add(end, 1)
		st.hrErrors.Add(end, 1)
		if len(r.errors.buf) > 0 {
			r.errors.add(newSample(st, c, end))
		}
	}
	if r.slow.n > 0 && c.Took >= r.slow.min && c.Took > 0 {
		w := end.Unix() / r.slow.width
		if int64(c.Took) > r.slow.floor.Load() || w != r.slow.win.Load() {
			r.slow.add(w, newSample(st, c, end))
		}
	}
}

// Shed counts one request of route merge answered without running its
// handler, for reason; the request itself is recorded by Record, as an
// error. Unknown routes and reasons are ignored. It takes no lock.
func (r *Recorder) Shed(merge int32, reason ShedReason) {
	st := r.routes[merge]
	if st == nil || int(reason) >= NumShedReasons {
		return
	}
	st.shed[reason].Add(1)
}

// ObserveTask records one executor task that waited wait in its queue,
// then ran for run.
func (r *Recorder) ObserveTask(wait, run time.Duration) {
	r.wait.observe(wait)
	r.run.observe(run)
}

// Snapshot returns the current figures with the server's queue gauges.
func (r *Recorder) Snapshot(g Gauges) Snapshot {
	now := r.cfg.Now()
	s := Snapshot{
		Service: r.cfg.Service, Instance: r.cfg.Instance, Time: now.UTC(),
		Queued: g.Queued, Executors: g.Executors, Inbound: g.Inbound,
		LongestQueue: g.LongestQueue, LongestKey: g.LongestKey,
		Dropped: g.Dropped, Unrouted: g.Unrouted,
		Wait: r.wait.snapshot(), Run: r.run.snapshot(),
		Buckets:      Buckets[:],
		Routes:       make([]RouteStats, 0, len(r.order)),
		RecentErrors: exported(r.errors.list()),
		Slowest:      exported(r.slow.list(now)),
	}
	for _, m := range r.order {
		st := r.routes[m]
		h := st.latency.snapshot()
		rs := RouteStats{
			Route:           st.name,
			Calls:           st.calls.Load(),
			Seconds:         h.Seconds,
			Latency:         h.Counts,
			CallsPerMinute:  st.minCalls.Values(now),
			ErrorsPerMinute: st.minErrors.Values(now),
			CallsPerHour:    st.hrCalls.Values(now),
			ErrorsPerHour:   st.hrErrors.Values(now),
		}
		st.mu.Lock()
		if len(st.errors) > 0 {
			rs.Errors = make(map[string]uint64, len(st.errors))
			for c, n := range st.errors {
				rs.Errors[strconv.Itoa(int(c))] = n
			}
		}
		st.mu.Unlock()
		for i := range st.shed {
			if n := st.shed[i].Load(); n > 0 {
				if rs.Shed == nil {
					rs.Shed = make(map[string]uint64, NumShedReasons)
				}
				rs.Shed[ShedReason(i).String()] = n
			}
		}
		s.Routes = append(s.Routes, rs)
	}
	return s
}

// sample is a Sample before formatting: kept samples cost no allocation
// beyond their slot.
type sample struct {
	at    time.Time
	route *routeStat
	user  int64
	code  int32
	msg   string
	took  time.Duration
	trace [16]byte
}

func newSample(st *routeStat, c *Call, end time.Time) sample {
	return sample{at: end, route: st, user: c.User, code: c.Code, msg: c.Msg, took: c.Took, trace: c.TraceID}
}

func exported(in []sample) []Sample {
	out := make([]Sample, len(in))
	for i, s := range in {
		out[i] = Sample{Time: s.at.UTC(), Route: s.route.name, User: s.user, Code: s.code, Msg: s.msg, Seconds: s.took.Seconds()}
		if s.trace != [16]byte{} {
			out[i].TraceID = hex.EncodeToString(s.trace[:])
		}
	}
	return out
}
