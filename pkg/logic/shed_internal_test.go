package logic

import (
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/stats"
)

// TestRouteLoadAdmit: a request runs unless its caller's time is gone, or
// shorter than the route's handler-time estimate; a shedding route lets a
// probe through now and then, and its estimate decays with time.
func TestRouteLoadAdmit(t *testing.T) {
	t0 := time.Unix(1000, 0)
	slow := func() *routeLoad { // an estimate of 80 ms, fed at t0
		l := new(routeLoad)
		for range 40 {
			l.observe(t0, 80*time.Millisecond, false)
		}
		return l
	}
	busy := func() *routeLoad { // one request running
		l := slow()
		l.begin()
		return l
	}
	probing := func() *routeLoad { // a probe let through at t0, still running
		l := slow()
		if run, probe, _ := l.admit(t0, time.Millisecond); !run || !probe {
			t.Fatal("no probe")
		}
		return l
	}
	type step struct {
		at        time.Duration // after t0
		left      time.Duration
		run, prob bool
		why       stats.ShedReason
	}
	tests := []struct {
		name  string
		load  func() *routeLoad
		steps []step
	}{
		{"no estimate: runs with any time left", func() *routeLoad { return nil }, []step{
			{0, time.Nanosecond, true, false, 0},
		}},
		{"time is up", slow, []step{{0, 0, false, false, stats.ShedExpired}}},
		{"overdue", slow, []step{{0, -time.Second, false, false, stats.ShedExpired}}},
		{"enough left", slow, []step{{0, 100 * time.Millisecond, true, false, 0}}},
		{"too little left, route busy: shed", busy, []step{
			{0, 50 * time.Millisecond, false, false, stats.ShedLate},
			{2 * shedProbeEvery, 50 * time.Millisecond, false, false, stats.ShedLate},
		}},
		{"too little left, route idle: one probe, then shed", slow, []step{
			{0, 50 * time.Millisecond, true, true, 0},
			{time.Millisecond, 50 * time.Millisecond, false, false, stats.ShedLate},
		}},
		{"one probe at a time", probing, []step{
			{2 * shedProbeEvery, 50 * time.Millisecond, false, false, stats.ShedLate},
			{3 * shedProbeEvery, 50 * time.Millisecond, false, false, stats.ShedLate},
		}},
		{"the estimate decays: one half-life later half of it is enough", probing, []step{
			{shedFresh, 79 * time.Millisecond, false, false, stats.ShedLate}, // whole while fresh
			{shedFresh + shedHalfLife, 41 * time.Millisecond, true, false, 0},
			{shedFresh + shedHalfLife, 39 * time.Millisecond, false, false, stats.ShedLate},
			{shedFresh + 3*shedHalfLife, 11 * time.Millisecond, true, false, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := tt.load()
			for i, s := range tt.steps {
				run, probe, why := l.admit(t0.Add(s.at), s.left)
				if run != s.run || probe != s.prob || (!run && why != s.why) {
					t.Fatalf("step %d: admit(+%v, %v) = %v, %v, %v; want %v, %v, %v",
						i, s.at, s.left, run, probe, why, s.run, s.prob, s.why)
				}
			}
		})
	}
}

// TestRouteLoadRecovers: after a flood has pushed the estimate past the
// callers' timeout, the route opens again by itself: at once through a
// fast probe, or by decay alone when no probe can run.
func TestRouteLoadRecovers(t *testing.T) {
	t0 := time.Unix(1000, 0)
	const timeout = time.Second
	flood := func() *routeLoad {
		l := new(routeLoad)
		for range 100 {
			l.observe(t0, 8*time.Second, false) // the hidden queue of a flood
		}
		return l
	}
	tests := []struct {
		name string
		// after the flood's last request ended: the probe's handler time
		// (0: no probe finishes)
		probe time.Duration
		// the request that must then run, this long after the flood
		want time.Duration
	}{
		{"a fast probe opens the route", 20 * time.Millisecond, shedProbeEvery + 2*time.Millisecond},
		{"a slow probe keeps it shut, decay opens it", 5 * time.Second, 5 * shedHalfLife},
		{"no probe returns, decay opens it", 0, 4 * shedHalfLife},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := flood()
			l.begin() // the flood's last request
			if run, _, _ := l.admit(t0, timeout); run {
				t.Fatal("a request ran while the flood's requests still ran")
			}
			l.end()
			p0 := t0.Add(time.Millisecond)
			if run, probe, _ := l.admit(p0, timeout); !run || !probe {
				t.Fatal("no probe once the flood's requests ended")
			}
			if tt.probe > 0 {
				l.observe(p0.Add(tt.probe/100), tt.probe, true)
			}
			if run, probe, _ := l.admit(t0.Add(tt.want), timeout); !run || probe {
				t.Fatalf("%v after the flood: run %v, probe %v (estimate %v); want run",
					tt.want, run, probe, l.estimate(t0.Add(tt.want)))
			}
		})
	}
}

// TestRouteLoadCount: the first shed of a quiet route is logged at once,
// the next ones only shedLogEvery later, with every count in between.
func TestRouteLoadCount(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := new(routeLoad)
	steps := []struct {
		at  time.Duration
		why stats.ShedReason
		log bool
	}{
		{0, stats.ShedLate, true},
		{time.Second, stats.ShedLate, false},
		{2 * time.Second, stats.ShedBusy, false},
		{shedLogEvery, stats.ShedExpired, true},
	}
	var logged [stats.NumShedReasons]uint64
	for i, s := range steps {
		if got := l.count(t0.Add(s.at), s.why); got != s.log {
			t.Fatalf("step %d: log %v, want %v", i, got, s.log)
		}
		if s.log {
			c, _ := l.flush()
			for j := range c {
				logged[j] += c[j]
			}
		}
	}
	if want := [stats.NumShedReasons]uint64{1, 2, 1, 0}; logged != want {
		t.Fatalf("logged counts %v, want %v", logged, want)
	}
}
