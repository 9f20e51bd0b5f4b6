package sim

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

// stats collects what the players record. Players are spread over a few
// shards, each with its own mutex, so recording costs an uncontended lock
// and memory stays independent of the number of players.
type stats struct {
	shards []shard
	steps  []string // step names by index: Setup steps, then Loop steps
}

// shard is the tally of a subset of the players.
type shard struct {
	mu       sync.Mutex
	total    Histogram   // every response of the run
	steady   Histogram   // responses after the ramp-up
	interval Histogram   // responses since the last sample
	ireqs    int64       // requests completed since the last sample
	ierrs    int64       // errors since the last sample
	steps    []stepTally // by step index
	codes    map[string]int64
	samples  map[string]string // the first message per code
	reqs     int64
	errs     int64
	_        [64]byte // keep shards' locks off each other's cache lines
}

type stepTally struct {
	hist   Histogram
	errors int64
}

func newStats(steps []string) *stats {
	n := 4 * runtime.GOMAXPROCS(0)
	s := &stats{shards: make([]shard, n), steps: steps}
	for i := range s.shards {
		s.shards[i].steps = make([]stepTally, len(steps))
		s.shards[i].codes = make(map[string]int64)
		s.shards[i].samples = make(map[string]string)
	}
	return s
}

func (s *stats) shard(player int) *shard { return &s.shards[player%len(s.shards)] }

// ok records a completed request of step i that took d; steady tells
// whether the ramp-up was over when it completed.
func (sh *shard) ok(i int, d time.Duration, steady bool) {
	sh.mu.Lock()
	sh.total.Record(d)
	if steady {
		sh.steady.Record(d)
	}
	sh.interval.Record(d)
	sh.steps[i].hist.Record(d)
	sh.reqs++
	sh.ireqs++
	sh.mu.Unlock()
}

// fail records a failure of step i under code. d > 0 is the round trip of
// a request that was answered (with an error status, or a response that
// failed its check): it counts as a completed request too.
func (sh *shard) fail(i int, code, msg string, d time.Duration, answered, steady bool) {
	sh.mu.Lock()
	if answered {
		sh.total.Record(d)
		if steady {
			sh.steady.Record(d)
		}
		sh.interval.Record(d)
		sh.steps[i].hist.Record(d)
		sh.reqs++
		sh.ireqs++
	}
	if i >= 0 {
		sh.steps[i].errors++
	}
	sh.errs++
	sh.ierrs++
	sh.codes[code]++
	if _, ok := sh.samples[code]; !ok {
		sh.samples[code] = msg
	}
	sh.mu.Unlock()
}

// Sample is the activity of one interval of a run.
type Sample struct {
	// T is the end of the interval, in seconds since the run started.
	T        float64 `json:"t"`
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	RPS      float64 `json:"rps"`
	// Players is the number of connected players at the end of the interval.
	Players int     `json:"players"`
	P50MS   float64 `json:"p50_ms"`
	P90MS   float64 `json:"p90_ms"`
	P99MS   float64 `json:"p99_ms"`
	MaxMS   float64 `json:"max_ms"`
}

// sample takes the interval tallies of every shard, resetting them, and
// returns totals so far.
func (s *stats) sample(agg *Histogram) (reqs, errs, ireqs, ierrs int64) {
	agg.Reset()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		agg.Merge(&sh.interval)
		sh.interval.Reset()
		reqs += sh.reqs
		errs += sh.errs
		ireqs += sh.ireqs
		ierrs += sh.ierrs
		sh.ireqs, sh.ierrs = 0, 0
		sh.mu.Unlock()
	}
	return reqs, errs, ireqs, ierrs
}

// totals returns the current request and error counts.
func (s *stats) totals() (reqs, errs int64) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		reqs += sh.reqs
		errs += sh.errs
		sh.mu.Unlock()
	}
	return reqs, errs
}

// fill merges every shard into the report.
func (s *stats) fill(r *Report) {
	var total, steady Histogram
	steps := make([]stepTally, len(s.steps))
	r.ErrorsByCode = make(map[string]int64)
	r.ErrorSamples = make(map[string]string)
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		total.Merge(&sh.total)
		steady.Merge(&sh.steady)
		for j := range sh.steps {
			steps[j].hist.Merge(&sh.steps[j].hist)
			steps[j].errors += sh.steps[j].errors
		}
		r.Requests += sh.reqs
		r.Errors += sh.errs
		for c, n := range sh.codes {
			r.ErrorsByCode[c] += n
		}
		for c, m := range sh.samples {
			if _, ok := r.ErrorSamples[c]; !ok {
				r.ErrorSamples[c] = m
			}
		}
		sh.mu.Unlock()
	}
	r.Latency = summarize(&total)
	r.SteadyLatency = summarize(&steady)
	for j, name := range s.steps {
		if steps[j].hist.Count() == 0 && steps[j].errors == 0 {
			continue
		}
		r.Steps = append(r.Steps, StepReport{Name: name, Requests: steps[j].hist.Count(), Errors: steps[j].errors, Latency: summarize(&steps[j].hist)})
	}
}

// stepNames names the steps of a scenario, Setup then Loop; repeated
// names get a numeric suffix so each step reports on its own.
func stepNames(sc *Scenario) []string {
	seen := make(map[string]int)
	var out []string
	for _, st := range append(append([]Step(nil), sc.Setup...), sc.Loop...) {
		name := st.name
		if n := seen[name]; n > 0 {
			name = fmt.Sprintf("%s#%d", name, n+1)
		}
		seen[st.name]++
		out = append(out, name)
	}
	return out
}
