package stats_test

import (
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/stats"
)

// BenchmarkObserve measures Observe, which reads the clock, on a successful
// request from two goroutines.
func BenchmarkObserve(b *testing.B) {
	merge := int32(3<<16 | 1)
	r := stats.NewRecorder(stats.Config{Service: "svc", Instance: "svc-1", Routes: []int32{merge}})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Observe(merge, 300*time.Microsecond, 0)
		}
	})
}
