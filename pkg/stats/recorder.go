package stats

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Buckets are the upper bounds, in seconds, of the latency histogram.
var Buckets = [...]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// Snapshot is the state of one logic server's Recorder, as published in
// its micro service's STATS data.
type Snapshot struct {
	Service  string `json:"service"`
	Instance string `json:"instance"`
	// Queued counts the requests and functions waiting on executors;
	// Executors the executors running; Inbound the requests received and
	// not yet handed to an executor.
	Queued    int64 `json:"queued"`
	Executors int64 `json:"executors"`
	Inbound   int64 `json:"inbound"`
	// Buckets are the histogram's upper bounds in seconds (Buckets).
	Buckets []float64    `json:"buckets"`
	Routes  []RouteStats `json:"routes"`
}

// RouteStats are the figures of one route.
type RouteStats struct {
	Route string `json:"route"` // "cmd-sub"
	Calls uint64 `json:"calls"`
	// Errors counts failed calls by error code.
	Errors map[string]uint64 `json:"errors,omitempty"`
	// Latency counts calls per bucket (not cumulative); the last element
	// counts those slower than the largest bound.
	Latency []uint64 `json:"latency"`
	// Seconds is the total time spent serving the route.
	Seconds float64 `json:"seconds"`
}

// Recorder counts one logic server's requests.
type Recorder struct {
	service, instance string
	routes            map[int32]*routeStat // fixed at creation
	order             []int32
}

type routeStat struct {
	name    string
	calls   atomic.Uint64
	nanos   atomic.Uint64
	latency [len(Buckets) + 1]atomic.Uint64
	mu      sync.Mutex // guards errors
	errors  map[int32]uint64
}

// NewRecorder returns a Recorder for the routes, given as merged routes
// (cmd<<16 | sub).
func NewRecorder(service, instance string, routes []int32) *Recorder {
	r := &Recorder{service: service, instance: instance, routes: make(map[int32]*routeStat, len(routes))}
	for _, m := range routes {
		if _, dup := r.routes[m]; dup {
			continue
		}
		r.routes[m] = &routeStat{name: strconv.Itoa(int(m>>16)) + "-" + strconv.Itoa(int(m&0xffff))}
		r.order = append(r.order, m)
	}
	return r
}

// Observe records one call of route merge that took took and ended with
// error code code (0 for success). Unknown routes are ignored.
func (r *Recorder) Observe(merge int32, took time.Duration, code int32) {
	st := r.routes[merge]
	if st == nil {
		return
	}
	st.calls.Add(1)
	st.nanos.Add(uint64(took))
	sec := took.Seconds()
	i := 0
	for i < len(Buckets) && sec > Buckets[i] {
		i++
	}
	st.latency[i].Add(1)
	if code != 0 {
		st.mu.Lock()
		if st.errors == nil {
			st.errors = make(map[int32]uint64)
		}
		st.errors[code]++
		st.mu.Unlock()
	}
}

// Snapshot returns the current figures; queued, executors and inbound are
// the server's queue gauges.
func (r *Recorder) Snapshot(queued, executors, inbound int64) Snapshot {
	s := Snapshot{
		Service: r.service, Instance: r.instance,
		Queued: queued, Executors: executors, Inbound: inbound,
		Buckets: Buckets[:],
		Routes:  make([]RouteStats, 0, len(r.order)),
	}
	for _, m := range r.order {
		st := r.routes[m]
		rs := RouteStats{
			Route:   st.name,
			Calls:   st.calls.Load(),
			Seconds: time.Duration(st.nanos.Load()).Seconds(),
			Latency: make([]uint64, len(st.latency)),
		}
		for i := range st.latency {
			rs.Latency[i] = st.latency[i].Load()
		}
		st.mu.Lock()
		if len(st.errors) > 0 {
			rs.Errors = make(map[string]uint64, len(st.errors))
			for c, n := range st.errors {
				rs.Errors[strconv.Itoa(int(c))] = n
			}
		}
		st.mu.Unlock()
		s.Routes = append(s.Routes, rs)
	}
	return s
}
