package stats

import (
	"sync/atomic"
	"time"
)

// A slot of a Series packs the period it counts (its stamp, the period's
// index modulo 1<<stampBits) and its count into one word, so that adding
// to the current period is one load and one atomic add, and starting a
// new period is one compare-and-swap: no lock, no allocation.
const (
	countBits = 36 // 68 billion events per slot
	stampBits = 64 - countBits
	stampMask = 1<<stampBits - 1
	countMask = 1<<countBits - 1
)

// Series counts events in a ring of consecutive periods of fixed width,
// rotated by wall clock: with 60 one-minute slots it holds the counts of
// the current minute and of the 59 before it. Periods are aligned on the
// Unix epoch. A Series is safe for concurrent use; its zero value is not
// usable, make one with NewSeries.
type Series struct {
	width int64 // seconds
	slots []atomic.Uint64
}

// NewSeries returns a Series of n periods of width width (a whole number
// of seconds, at least one).
func NewSeries(n int, width time.Duration) *Series {
	w := int64(width / time.Second)
	if w < 1 {
		w = 1
	}
	return &Series{width: w, slots: make([]atomic.Uint64, max(n, 1))}
}

// Width returns the width of one period.
func (s *Series) Width() time.Duration { return time.Duration(s.width) * time.Second }

// period returns the index of the period holding t.
func (s *Series) period(t time.Time) uint64 { return uint64(t.Unix() / s.width) }

// Add adds n events at time now. An event older than the period its slot
// now counts (a clock stepped back, or a caller that read the clock long
// before) is dropped rather than wiping the newer count.
func (s *Series) Add(now time.Time, n uint64) {
	p := s.period(now)
	slot := &s.slots[p%uint64(len(s.slots))]
	stamp := p & stampMask
	for {
		old := slot.Load()
		have := old >> countBits
		if have == stamp {
			slot.Add(n)
			return
		}
		if d := (have - stamp) & stampMask; old != 0 && d < stampMask/2 {
			return // the slot already counts a later period
		}
		if slot.CompareAndSwap(old, stamp<<countBits|n&countMask) {
			return
		}
	}
}

// Values returns the counts of the n periods ending with the one holding
// now, oldest first; periods without events count 0.
func (s *Series) Values(now time.Time) []uint64 {
	n := uint64(len(s.slots))
	out := make([]uint64, n)
	p := s.period(now)
	for i := range n {
		q := p - (n - 1 - i) // the period of out[i]
		v := s.slots[q%n].Load()
		if v>>countBits == q&stampMask {
			out[i] = v & countMask
		}
	}
	return out
}

// Sum returns the total of the last k periods before the one holding now
// (the current, incomplete period excluded); k is capped at the ring's
// length minus one.
func (s *Series) Sum(now time.Time, k int) uint64 {
	v := s.Values(now)
	k = min(k, len(v)-1)
	var sum uint64
	for _, c := range v[len(v)-1-k : len(v)-1] {
		sum += c
	}
	return sum
}
