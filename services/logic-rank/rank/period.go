package rank

import (
	"errors"
	"time"

	"github.com/robfig/cron/v3"
)

// schedule is a board's reset schedule.
type schedule struct {
	cron cron.Schedule
}

func newSchedule(spec string) (*schedule, error) {
	s, err := cronParser.Parse(spec)
	if err != nil {
		return nil, err
	}
	// A schedule that never fires (Feb 30) would make every period search
	// fail: reject it up front.
	if s.Next(time.Unix(0, 0)).IsZero() {
		return nil, errors.New("the schedule never fires")
	}
	return &schedule{cron: s}, nil
}

// maxLookBack bounds the search for the last reset: a schedule that fires
// less often than this is treated as not having fired yet.
const maxLookBack = 10 * 366 * 24 * time.Hour

// prev returns the latest firing time at or before t, or the zero time
// when there is none within maxLookBack. The result is a pure function of
// the schedule and t, so every instance derives the same period start.
func (s *schedule) prev(t time.Time) time.Time {
	for w := time.Minute; w <= 2*maxLookBack; w *= 2 {
		from := t.Add(-w)
		n := s.cron.Next(from)
		if n.IsZero() || n.After(t) {
			continue
		}
		// n is within (from, t]; step forward to the last one not after t.
		for {
			nn := s.cron.Next(n)
			if nn.IsZero() || nn.After(t) {
				return n
			}
			n = nn
		}
	}
	return time.Time{}
}

// Period is one period of a board, in Unix seconds; 0 means none.
type Period struct {
	// Start is the period's start (the reset that opened it); 0 for a board
	// that never resets, or a schedule that has not fired yet.
	Start int64
	// NextReset is the period's end.
	NextReset int64
	// PreviousStart is the start of the period before.
	PreviousStart int64
}

// periodAt returns the period that holds t.
func (s *schedule) periodAt(t time.Time) Period {
	if s == nil {
		return Period{}
	}
	var p Period
	if start := s.prev(t); !start.IsZero() {
		p.Start = start.Unix()
		if ps := s.prev(start.Add(-time.Second)); !ps.IsZero() {
			p.PreviousStart = ps.Unix()
		}
	}
	// Cron resolution is one second: the next reset after t's second.
	p.NextReset = s.cron.Next(t.Truncate(time.Second)).Unix()
	return p
}

// previous returns the period before p.
func (s *schedule) previous(p Period) Period {
	if s == nil || p.Start == 0 {
		return Period{}
	}
	q := Period{Start: p.PreviousStart, NextReset: p.Start}
	if p.PreviousStart != 0 {
		if ps := s.prev(time.Unix(p.PreviousStart, 0).Add(-time.Second)); !ps.IsZero() {
			q.PreviousStart = ps.Unix()
		}
	}
	return q
}

// expiry returns when the records of period p may be dropped: once the
// period after next has begun (p is then older than "previous"), plus an
// hour of grace for clocks that lag.
func (s *schedule) expiry(p Period) time.Time {
	if s == nil || p.NextReset == 0 {
		return time.Time{}
	}
	n2 := s.cron.Next(time.Unix(p.NextReset, 0))
	if n2.IsZero() {
		return time.Time{}
	}
	return n2.Add(time.Hour)
}
