package guild

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// chatLimiter holds a token bucket of chat lines per user, on this
// instance. A bucket that has refilled to its burst is the same as a new
// one, so sweeps drop those: the map holds only users who chatted within
// about two refill times (burst/rate), however many users ever chatted.
type chatLimiter struct {
	limit rate.Limit
	burst int
	every time.Duration // between sweeps: the time an empty bucket takes to refill

	mu    sync.Mutex // guards users and next; a leaf lock
	users map[int64]*rate.Limiter
	next  time.Time // the next sweep
}

// newChatLimiter returns a limiter of perSec lines per second with burst
// burst, or nil (no limit) when perSec is not positive.
func newChatLimiter(perSec float64, burst int) *chatLimiter {
	if perSec <= 0 {
		return nil
	}
	every := time.Duration(float64(burst) / perSec * float64(time.Second))
	return &chatLimiter{limit: rate.Limit(perSec), burst: burst, every: max(every, time.Second), users: map[int64]*rate.Limiter{}}
}

// allow takes one token of user's bucket at now. Without a token it takes
// nothing and returns how long until one is there. A nil limiter allows
// everything.
func (l *chatLimiter) allow(user int64, now time.Time) (wait time.Duration, ok bool) {
	if l == nil {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !now.Before(l.next) {
		for id, b := range l.users {
			if b.TokensAt(now) >= float64(l.burst) {
				delete(l.users, id)
			}
		}
		l.next = now.Add(l.every)
	}
	b := l.users[user]
	if b == nil {
		b = rate.NewLimiter(l.limit, l.burst)
		l.users[user] = b
	}
	if b.AllowN(now, 1) {
		return 0, true
	}
	return time.Duration((1 - b.TokensAt(now)) / float64(l.limit) * float64(time.Second)), false
}

// size returns how many buckets are held (tests).
func (l *chatLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.users)
}
