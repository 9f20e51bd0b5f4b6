package logic

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestRouteLate: a request is late when its caller's time is gone, or
// shorter than the route's recent handler time.
func TestRouteLate(t *testing.T) {
	timed := Route{est: new(atomic.Int64)}
	for range 40 {
		timed.observeTime(80 * time.Millisecond)
	}
	untimed := Route{} // outside a Table, or stats off: no estimate
	tests := []struct {
		name string
		r    *Route
		left time.Duration
		want bool
	}{
		{"time is up", &untimed, 0, true},
		{"overdue", &timed, -time.Second, true},
		{"no estimate, any time left", &untimed, time.Nanosecond, false},
		{"less left than the handler takes", &timed, 50 * time.Millisecond, true},
		{"enough left", &timed, 100 * time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.late(tt.left); got != tt.want {
				t.Fatalf("late(%v) = %v with estimate %v", tt.left, got, time.Duration(timed.est.Load()))
			}
		})
	}
}
