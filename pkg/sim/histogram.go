package sim

import (
	"math"
	"math/bits"
	"time"
)

// Histogram layout: log-linear, as HdrHistogram. Values below 2^subBits
// have a bucket each; above, every power-of-two range [2^k, 2^(k+1)) is
// cut into 2^(subBits-1) equal buckets, so a bucket is at most 1/128 of
// its values wide (subBits 8): a quantile is off by less than 0.8%.
const (
	subBits  = 8
	subCount = 1 << subBits
	subHalf  = subCount / 2
	// maxBits bounds the values recorded: 2^maxBits ns is about 2.3
	// minutes; longer values are clamped to it.
	maxBits    = 37
	maxValue   = 1<<maxBits - 1
	numBuckets = (maxBits-subBits)*subHalf + subCount
)

// Histogram counts durations in log-linear buckets, to report quantiles
// with a bounded relative error (under 0.8%) in constant memory (32 KB).
// Min, max and mean are exact. The zero value is empty and ready to use.
// A Histogram is not safe for concurrent use.
type Histogram struct {
	counts []uint64 // numBuckets, allocated on first Record
	n      int64
	sum    float64 // nanoseconds; float: no overflow over long runs
	min    int64
	max    int64
}

// bucketOf returns the bucket of a value in [0, maxValue].
func bucketOf(v int64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - subBits // >= 1
	return e*subHalf + int(v>>e)
}

// bucketHigh returns the largest value that falls in bucket i.
func bucketHigh(i int) int64 {
	if i < subCount {
		return int64(i)
	}
	e := i/subHalf - 1
	sub := int64(i - e*subHalf) // in [subHalf, subCount)
	return (sub+1)<<e - 1
}

// Record adds one duration. Negative durations count as 0; durations
// over about 2.3 minutes are clamped.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	if h.counts == nil {
		h.counts = make([]uint64, numBuckets)
	}
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
	h.counts[bucketOf(min(v, maxValue))]++
}

// Merge adds the values of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, numBuckets)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Reset empties h, keeping its memory.
func (h *Histogram) Reset() {
	clear(h.counts)
	h.n, h.sum, h.min, h.max = 0, 0, 0, 0
}

// Count returns the number of values recorded.
func (h *Histogram) Count() int64 { return h.n }

// Min returns the smallest value recorded, 0 if none.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max returns the largest value recorded, 0 if none.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the mean of the values recorded, 0 if none.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(math.Round(h.sum / float64(h.n)))
}

// Quantile returns the value below or at which a fraction q (0..1) of the
// values fall: the top of the bucket holding the value of that rank,
// capped by the exact maximum (as HdrHistogram's "highest equivalent
// value"). It returns 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(max(bucketHigh(i), h.min), h.max))
		}
	}
	return time.Duration(h.max)
}
