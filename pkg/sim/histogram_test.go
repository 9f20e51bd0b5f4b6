package sim

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsAreContiguous(t *testing.T) {
	// Every value maps to a bucket whose top is at or above it, and the
	// bucket of a bucket's top plus one is the next bucket.
	for i := 0; i < numBuckets-1; i++ {
		hi := bucketHigh(i)
		if got := bucketOf(hi); got != i {
			t.Fatalf("bucketOf(bucketHigh(%d)=%d) = %d", i, hi, got)
		}
		if got := bucketOf(hi + 1); got != i+1 {
			t.Fatalf("bucketOf(%d) = %d, want %d", hi+1, got, i+1)
		}
	}
	if got := bucketOf(maxValue); got != numBuckets-1 {
		t.Fatalf("bucketOf(maxValue) = %d, want %d", got, numBuckets-1)
	}
}

func TestQuantileError(t *testing.T) {
	tests := []struct {
		name string
		gen  func(r *rand.Rand) time.Duration
	}{
		{"uniform µs", func(r *rand.Rand) time.Duration { return time.Duration(r.Int64N(int64(time.Millisecond))) }},
		{"log-normal ms", func(r *rand.Rand) time.Duration {
			return time.Duration(math.Exp(r.NormFloat64()) * float64(5*time.Millisecond))
		}},
		{"tiny", func(r *rand.Rand) time.Duration { return time.Duration(r.IntN(300)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var h Histogram
			vals := make([]time.Duration, 100_000)
			for i := range vals {
				vals[i] = tt.gen(r)
				h.Record(vals[i])
			}
			slices.Sort(vals)
			for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
				rank := max(int(math.Ceil(q*float64(len(vals))))-1, 0)
				exact, got := vals[rank], h.Quantile(q)
				if got < exact {
					t.Errorf("q%v = %v below the exact %v", q, got, exact)
				}
				if rel := float64(got-exact) / float64(max(exact, 1)); rel > 1.0/128 && got-exact > 1 {
					t.Errorf("q%v = %v, exact %v: error %.2f%%", q, got, exact, rel*100)
				}
			}
			if h.Min() != vals[0] || h.Max() != vals[len(vals)-1] {
				t.Errorf("min/max %v/%v, want %v/%v", h.Min(), h.Max(), vals[0], vals[len(vals)-1])
			}
			var sum float64
			for _, v := range vals {
				sum += float64(v)
			}
			if want := time.Duration(math.Round(sum / float64(len(vals)))); h.Mean() != want {
				t.Errorf("mean %v, want %v", h.Mean(), want)
			}
		})
	}
}

func TestHistogramMergeReset(t *testing.T) {
	var a, b, all Histogram
	for i := 1; i <= 1000; i++ {
		d := time.Duration(i) * time.Microsecond
		all.Record(d)
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(&Histogram{}) // empty: no effect
	for _, q := range []float64{0.1, 0.5, 0.99} {
		if m.Quantile(q) != all.Quantile(q) {
			t.Fatalf("q%v: merged %v, direct %v", q, m.Quantile(q), all.Quantile(q))
		}
	}
	if m.Count() != 1000 || m.Min() != time.Microsecond || m.Max() != time.Millisecond || m.Mean() != all.Mean() {
		t.Fatalf("merged count %d min %v max %v mean %v", m.Count(), m.Min(), m.Max(), m.Mean())
	}
	m.Reset()
	if m.Count() != 0 || m.Quantile(0.5) != 0 || m.Max() != 0 || m.Mean() != 0 {
		t.Fatal("Reset left values")
	}
	m.Record(5 * time.Millisecond)
	if m.Min() != 5*time.Millisecond || m.Quantile(0.5) != 5*time.Millisecond {
		t.Fatalf("after reset: min %v q50 %v", m.Min(), m.Quantile(0.5))
	}
}

func TestHistogramEdges(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram not zero")
	}
	h.Record(-time.Second)
	h.Record(time.Hour) // clamped in the buckets, exact in Max
	if h.Min() != 0 || h.Max() != time.Hour {
		t.Fatalf("min %v max %v", h.Min(), h.Max())
	}
	if got := h.Quantile(1); got != time.Duration(maxValue) {
		t.Fatalf("q1 = %v, want the clamp %v", got, time.Duration(maxValue))
	}
	if got := h.Quantile(0); got != 0 {
		t.Fatalf("q0 = %v", got)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Record(time.Duration(i&0xfffff) * time.Microsecond)
	}
}
