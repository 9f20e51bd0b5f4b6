package stats

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ring keeps the most recent samples; its buffer's length is fixed at
// creation.
type ring struct {
	mu   sync.Mutex
	buf  []sample
	next int
	full bool
}

func (r *ring) add(s sample) {
	r.mu.Lock()
	r.buf[r.next] = s
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}

// list returns the samples, newest first.
func (r *ring) list() []sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.next
	if r.full {
		n = len(r.buf)
	}
	out := make([]sample, 0, n)
	for i := range n {
		out = append(out, r.buf[(r.next-1-i+len(r.buf))%len(r.buf)])
	}
	return out
}

// slowest keeps the n slowest samples of the current window and those of
// the previous one. Record reads floor and win without the lock, so a
// request that cannot enter the list takes no lock.
type slowest struct {
	n     int
	min   time.Duration
	width int64 // seconds per window
	// floor is, once the current window's list is full, the duration (ns)
	// a request must exceed to enter it; win is the current window's index.
	floor atomic.Int64
	win   atomic.Int64

	mu        sync.Mutex
	cur, prev []sample
	curWin    int64
}

func (s *slowest) init(cfg Config) {
	s.n = max(cfg.Slowest, 0)
	s.min = cfg.SlowMin
	s.width = int64(cfg.SlowWindow / time.Second)
	s.cur = make([]sample, 0, s.n)
	s.prev = make([]sample, 0, s.n)
}

// add offers sm, which ended in window w.
func (s *slowest) add(w int64, sm sample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case w < s.curWin:
		return // a late request of a past window
	case w > s.curWin:
		if w == s.curWin+1 {
			s.prev, s.cur = s.cur, s.prev[:0]
		} else {
			s.prev, s.cur = s.prev[:0], s.cur[:0]
		}
		s.curWin = w
		s.floor.Store(0)
		s.win.Store(w)
	}
	if len(s.cur) < s.n {
		s.cur = append(s.cur, sm)
	} else {
		i := fastest(s.cur)
		if sm.took <= s.cur[i].took {
			return
		}
		s.cur[i] = sm
	}
	if len(s.cur) == s.n {
		s.floor.Store(int64(s.cur[fastest(s.cur)].took))
	}
}

// fastest returns the index of the quickest sample in l.
func fastest(l []sample) int {
	j := 0
	for i := range l {
		if l[i].took < l[j].took {
			j = i
		}
	}
	return j
}

// list returns the n slowest of the window holding now and the one
// before it, slowest first.
func (s *slowest) list(now time.Time) []sample {
	if s.n == 0 {
		return nil
	}
	w := now.Unix() / s.width
	s.mu.Lock()
	var out []sample
	switch w - s.curWin {
	case 0:
		out = append(slices.Clone(s.cur), s.prev...)
	case 1:
		out = slices.Clone(s.cur)
	}
	s.mu.Unlock()
	slices.SortStableFunc(out, func(a, b sample) int {
		switch {
		case a.took > b.took:
			return -1
		case a.took < b.took:
			return 1
		}
		return 0
	})
	if len(out) > s.n {
		out = out[:s.n]
	}
	return out
}
