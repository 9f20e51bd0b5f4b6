package stats_test

import (
	"slices"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/stats"
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time             { return c.t }
func (c *clock) Add(d time.Duration) *clock { c.t = c.t.Add(d); return c }

// t0 is a minute boundary.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func TestSeries(t *testing.T) {
	type add struct {
		at time.Duration // after t0
		n  uint64
	}
	for _, tt := range []struct {
		name string
		adds []add
		read time.Duration // after t0
		want []uint64      // the last len(want) values, oldest first
		sum  uint64        // Sum(read, 3)
	}{
		{"empty", nil, 0, []uint64{0, 0, 0}, 0},
		{"one period", []add{{0, 1}, {59 * time.Second, 2}}, 59 * time.Second, []uint64{0, 0, 3}, 0},
		{"rotates", []add{{0, 1}, {time.Minute, 2}, {3 * time.Minute, 4}}, 3 * time.Minute, []uint64{1, 2, 0, 4}, 3},
		{"read later: old periods shift left", []add{{0, 5}}, 2 * time.Minute, []uint64{5, 0, 0}, 5},
		{"a full lap wipes the slot", []add{{0, 5}, {5 * time.Minute, 1}}, 5 * time.Minute, []uint64{0, 0, 0, 0, 1}, 0},
		{"a period a lap ago is not shown", []add{{0, 5}}, 5 * time.Minute, []uint64{0, 0, 0, 0, 0}, 0},
		{"late event of an overwritten period is dropped", []add{{5 * time.Minute, 1}, {0, 7}}, 5 * time.Minute, []uint64{0, 0, 0, 0, 1}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := stats.NewSeries(5, time.Minute)
			for _, a := range tt.adds {
				s.Add(t0.Add(a.at), a.n)
			}
			v := s.Values(t0.Add(tt.read))
			if len(v) != 5 {
				t.Fatalf("len %d", len(v))
			}
			if got := v[len(v)-len(tt.want):]; !slices.Equal(got, tt.want) {
				t.Errorf("values %v, want ...%v", v, tt.want)
			}
			if got := s.Sum(t0.Add(tt.read), 3); got != tt.sum {
				t.Errorf("sum %d, want %d", got, tt.sum)
			}
		})
	}
}

// TestSeriesConcurrent adds from many goroutines across a rotation; run
// with -race.
func TestSeriesConcurrent(t *testing.T) {
	s := stats.NewSeries(60, time.Second)
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 1000 {
				s.Add(t0.Add(time.Duration((g+i)%2)*time.Second), 1)
			}
		}()
	}
	for range 8 {
		<-done
	}
	v := s.Values(t0.Add(time.Second))
	if v[58]+v[59] != 8000 {
		t.Errorf("counted %d+%d, want 8000", v[58], v[59])
	}
}
