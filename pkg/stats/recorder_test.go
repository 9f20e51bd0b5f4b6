package stats_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/stats"
)

const routeA, routeB = int32(3<<16 | 1), int32(3<<16 | 2)

func newRec(c *clock, mod func(*stats.Config)) *stats.Recorder {
	cfg := stats.Config{Service: "svc", Instance: "svc-1", Routes: []int32{routeA, routeB}, Now: c.Now}
	if mod != nil {
		mod(&cfg)
	}
	return stats.NewRecorder(cfg)
}

// TestTimeSeries feeds calls at chosen times and reads the per-minute and
// per-hour series.
func TestTimeSeries(t *testing.T) {
	c := &clock{t: t0}
	r := newRec(c, nil)
	r.Record(&stats.Call{Route: routeA, Took: time.Millisecond})                           // minute 0, now
	r.Record(&stats.Call{Route: routeA, End: t0.Add(30 * time.Second), Code: 5})           // minute 0
	r.Record(&stats.Call{Route: routeA, End: t0.Add(2 * time.Minute)})                     // minute 2
	r.Record(&stats.Call{Route: routeA, End: t0.Add(90 * time.Minute), Code: 5, Msg: "x"}) // hour 1, minute 90
	r.Record(&stats.Call{Route: routeB, End: t0.Add(90 * time.Minute)})
	for _, tt := range []struct {
		name                 string
		at                   time.Duration
		route                int
		minCalls, minErrors  map[int]uint64 // index from the end (0: current) → count
		hourCalls, hourError map[int]uint64
	}{
		{"at minute 2", 2 * time.Minute, 0, map[int]uint64{0: 1, 2: 2}, map[int]uint64{2: 1}, map[int]uint64{0: 3}, map[int]uint64{0: 1}},
		{"at minute 90", 90 * time.Minute, 0, map[int]uint64{0: 1}, map[int]uint64{0: 1}, map[int]uint64{0: 1, 1: 3}, map[int]uint64{0: 1, 1: 1}},
		{"route B at minute 91", 91 * time.Minute, 1, map[int]uint64{1: 1}, nil, map[int]uint64{0: 1}, nil},
		{"a day later: hour 1 is the oldest", 24 * time.Hour, 0, nil, nil, map[int]uint64{23: 1}, map[int]uint64{23: 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t0.Add(tt.at)
			rs := r.Snapshot(stats.Gauges{}).Routes[tt.route]
			check := func(what string, got []uint64, n int, want map[int]uint64) {
				t.Helper()
				if len(got) != n {
					t.Fatalf("%s: %d values, want %d", what, len(got), n)
				}
				for i := range got {
					if w := want[len(got)-1-i]; got[i] != w {
						t.Errorf("%s[-%d] = %d, want %d (%v)", what, len(got)-1-i, got[i], w, got)
					}
				}
			}
			check("calls/min", rs.CallsPerMinute, stats.Minutes, tt.minCalls)
			check("errors/min", rs.ErrorsPerMinute, stats.Minutes, tt.minErrors)
			check("calls/h", rs.CallsPerHour, stats.Hours, tt.hourCalls)
			check("errors/h", rs.ErrorsPerHour, stats.Hours, tt.hourError)
		})
	}
}

// TestRecentErrors checks the bounded ring of failed requests.
func TestRecentErrors(t *testing.T) {
	c := &clock{t: t0}
	tid := [16]byte{0xab, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xff}
	for _, tt := range []struct {
		name  string
		keep  int
		fails int
		want  []string // "msg" newest first
	}{
		{"none yet", 3, 0, nil},
		{"fewer than kept", 3, 2, []string{"e1", "e0"}},
		{"wraps", 3, 5, []string{"e4", "e3", "e2"}},
		{"off", -1, 5, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRec(c, func(cfg *stats.Config) { cfg.RecentErrors = tt.keep })
			for i := range tt.fails {
				r.Record(&stats.Call{Route: routeA, Took: time.Millisecond, Code: 4201, Msg: fmt.Sprint("e", i), User: 42, TraceID: tid})
				r.Record(&stats.Call{Route: routeB, Took: time.Millisecond}) // a success: not kept
			}
			s := r.Snapshot(stats.Gauges{})
			var got []string
			for _, e := range s.RecentErrors {
				got = append(got, e.Msg)
				if e.Route != "3-1" || e.User != 42 || e.Code != 4201 || e.Seconds != 0.001 || !e.Time.Equal(t0) ||
					e.TraceID != "ab0102030405060708090a0b0c0d0eff" {
					t.Errorf("sample %+v", e)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("errors %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSlowest checks the slowest requests of the current and previous
// window.
func TestSlowest(t *testing.T) {
	type call struct {
		at   time.Duration
		took time.Duration
	}
	ms := time.Millisecond
	for _, tt := range []struct {
		name  string
		min   time.Duration
		calls []call
		read  time.Duration
		want  []time.Duration // slowest first
	}{
		{"keeps the slowest three", 0, []call{{0, 5 * ms}, {0, 1 * ms}, {0, 9 * ms}, {0, 3 * ms}, {0, 7 * ms}}, 0, []time.Duration{9 * ms, 7 * ms, 5 * ms}},
		{"below SlowMin is never slow", 4 * ms, []call{{0, 5 * ms}, {0, 1 * ms}, {0, 3 * ms}}, 0, []time.Duration{5 * ms}},
		{"previous window still shown", 0, []call{{0, 9 * ms}, {time.Minute, 1 * ms}}, time.Minute, []time.Duration{9 * ms, 1 * ms}},
		{"window two ago dropped", 0, []call{{0, 9 * ms}, {time.Minute, 1 * ms}, {2 * time.Minute, 2 * ms}}, 2 * time.Minute, []time.Duration{2 * ms, 1 * ms}},
		{"read after a quiet window", 0, []call{{0, 9 * ms}}, time.Minute, []time.Duration{9 * ms}},
		{"read long after", 0, []call{{0, 9 * ms}}, 10 * time.Minute, nil},
		{"late call of a past window ignored", 0, []call{{time.Minute, 1 * ms}, {0, 9 * ms}}, time.Minute, []time.Duration{1 * ms}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t: t0}
			r := newRec(c, func(cfg *stats.Config) { cfg.Slowest, cfg.SlowMin = 3, tt.min })
			for _, k := range tt.calls {
				r.Record(&stats.Call{Route: routeA, End: t0.Add(k.at), Took: k.took})
			}
			c.t = t0.Add(tt.read)
			var got []time.Duration
			for _, s := range r.Snapshot(stats.Gauges{}).Slowest {
				got = append(got, time.Duration(s.Seconds*float64(time.Second)).Round(time.Microsecond))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("slowest %v, want %v", got, tt.want)
			}
		})
	}
}

// TestTasks checks the executor wait and run histograms and the gauges.
func TestTasks(t *testing.T) {
	r := newRec(&clock{t: t0}, nil)
	r.ObserveTask(0, 200*time.Microsecond)
	r.ObserveTask(3*time.Millisecond, time.Minute)
	s := r.Snapshot(stats.Gauges{Queued: 4, LongestQueue: 3, LongestKey: "user 7"})
	if s.Wait.Count != 2 || s.Wait.Counts[0] != 1 || s.Wait.Counts[3] != 1 || s.Wait.Seconds != 0.003 {
		t.Errorf("wait %+v", s.Wait)
	}
	if s.Run.Count != 2 || s.Run.Counts[len(stats.Buckets)] != 1 || s.Run.Seconds != 60.0002 {
		t.Errorf("run %+v", s.Run)
	}
	if s.LongestQueue != 3 || s.LongestKey != "user 7" || s.Queued != 4 || !s.Time.Equal(t0) {
		t.Errorf("gauges %+v", s)
	}
}

// BenchmarkRecord measures the hot path: a successful request that is
// not among the slowest, and a failed one.
func BenchmarkRecord(b *testing.B) {
	for _, bb := range []struct {
		name string
		call stats.Call
	}{
		{"ok", stats.Call{Route: routeA, Took: 300 * time.Microsecond}},
		{"error", stats.Call{Route: routeA, Took: 300 * time.Microsecond, Code: 4201, Msg: "no gold"}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			r := stats.NewRecorder(stats.Config{Service: "svc", Instance: "svc-1", Routes: []int32{routeA}})
			r.Record(&stats.Call{Route: routeA, Took: time.Hour}) // fills nothing: keeps the slow list from filling
			for range stats.DefaultSlowest {
				r.Record(&stats.Call{Route: routeA, Took: time.Second})
			}
			now := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c := bb.call
				c.End = now
				for pb.Next() {
					r.Record(&c)
				}
			})
		})
	}
}

// TestShed: sheds are counted per route and reason, and the server's own
// counters pass through the snapshot.
func TestShed(t *testing.T) {
	const a, b = int32(1<<16 | 0), int32(1<<16 | 1)
	tests := []struct {
		name  string
		sheds []stats.ShedReason
		route int32
		want  map[string]uint64
	}{
		{"none", nil, a, nil},
		{"one reason", []stats.ShedReason{stats.ShedLate, stats.ShedLate}, a, map[string]uint64{"late": 2}},
		{"every reason", []stats.ShedReason{stats.ShedExpired, stats.ShedLate, stats.ShedBusy, stats.ShedInbound},
			b, map[string]uint64{"expired": 1, "late": 1, "busy": 1, "inbound": 1}},
		{"unknown reason ignored", []stats.ShedReason{stats.ShedReason(99)}, a, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := stats.NewRecorder(stats.Config{Service: "s", Instance: "s-1", Routes: []int32{a, b}})
			for _, why := range tt.sheds {
				r.Shed(tt.route, why)
				r.Shed(77, why) // unknown route: ignored
			}
			s := r.Snapshot(stats.Gauges{Dropped: 3, Unrouted: 4})
			if s.Dropped != 3 || s.Unrouted != 4 {
				t.Fatalf("dropped %d, unrouted %d; want 3, 4", s.Dropped, s.Unrouted)
			}
			got := map[string]map[string]uint64{}
			for _, rs := range s.Routes {
				if rs.Shed != nil {
					got[rs.Route] = rs.Shed
				}
			}
			want := map[string]map[string]uint64{}
			if tt.want != nil {
				want[fmt.Sprintf("%d-%d", tt.route>>16, tt.route&0xffff)] = tt.want
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("shed %v, want %v", got, want)
			}
		})
	}
}
