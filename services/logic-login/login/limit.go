package login

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/store"
)

// limiter counts events (failed logins, sign-ups) per key in fixed
// windows shared by every instance: the counter of key k in window w is
// the store key "<k>.<w>", raised with compare-and-set and removed by the
// bucket's TTL (at least one window) after its last write.
type limiter struct {
	kv     store.KV
	window time.Duration
	now    func() time.Time
	// refused renders the error of a key at its limit, with the time left
	// in the window; default rateLimited.
	refused func(left time.Duration) *errs.Error
	// hot remembers, for a short while, the counters found at their limit,
	// so that a flood of refused requests costs no store reads.
	hot hotCache
}

// hotFor is how long a counter found at its limit is refused without a
// store read. It bounds how late this instance notices that the counter
// went down (a refund) or was removed.
const hotFor = time.Second

// hotMax bounds the counters a hotCache remembers.
const hotMax = 10000

// hotCache maps a counter (key and window) to the time until which it is
// refused without a store read.
type hotCache struct {
	mu    sync.Mutex
	until map[string]time.Time
}

// refusedUntil returns the time until which counter is refused, if later
// than now.
func (h *hotCache) refusedUntil(counter string, now time.Time) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.until[counter]
	if ok && now.Before(t) {
		return t, true
	}
	return time.Time{}, false
}

// refuse remembers counter as refused until until.
func (h *hotCache) refuse(counter string, now, until time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.until == nil {
		h.until = map[string]time.Time{}
	}
	if len(h.until) >= hotMax {
		for k, t := range h.until {
			if !now.Before(t) {
				delete(h.until, k)
			}
		}
		if len(h.until) >= hotMax {
			return
		}
	}
	h.until[counter] = until
}

// refusedHot returns the refusal of counter if it is hot.
func (l *limiter) refusedHot(counter string, end time.Time) error {
	now := l.now()
	if _, ok := l.hot.refusedUntil(counter, now); ok {
		return l.refuse(end.Sub(now))
	}
	return nil
}

// hotRefusal returns the refusal of key when this instance recently
// found it at its limit, without a store read; nil otherwise.
func (l *limiter) hotRefusal(key string, limit int) error {
	if limit < 0 || key == "" {
		return nil
	}
	w, end := l.slot()
	return l.refusedHot(key+"."+strconv.FormatInt(w, 10), end)
}

// remember makes counter hot: refused without a store read for hotFor,
// or until its window ends.
func (l *limiter) remember(counter string, end time.Time) {
	now := l.now()
	until := now.Add(hotFor)
	if end.Before(until) {
		until = end
	}
	l.hot.refuse(counter, now, until)
}

// Counter keys: the failed logins of a client IP, of a username from all
// addresses, of a username from one address; the accounts created from a
// client IP and by everyone (Register: sign-up, GuestLogin: guest).
func ipKey(ip string) string { return "ip." + b64(ip) }

func accountKey(username string) string { return "acct." + b64(strings.ToLower(username)) }

func accountIPKey(username, ip string) string {
	return "aip." + b64(strings.ToLower(username)) + "." + b64(ip)
}

func signupIPKey(ip string) string { return "sip." + b64(ip) }
func guestIPKey(ip string) string  { return "gip." + b64(ip) }

const (
	signupAllKey = "sall"
	guestAllKey  = "gall"
)

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func (l *limiter) refuse(left time.Duration) *errs.Error {
	if l.refused != nil {
		return l.refused(left)
	}
	return rateLimited(left)
}

// slot returns the current window's number and its end.
func (l *limiter) slot() (int64, time.Time) {
	now := l.now()
	w := now.UnixNano() / int64(l.window)
	return w, time.Unix(0, (w+1)*int64(l.window))
}

// check returns ErrRateLimited, with the time left in the window, when key
// has already failed limit times in this window. limit < 0 never limits.
func (l *limiter) check(ctx context.Context, key string, limit int) error {
	if limit < 0 || key == "" {
		return nil
	}
	w, end := l.slot()
	counter := key + "." + strconv.FormatInt(w, 10)
	if err := l.refusedHot(counter, end); err != nil {
		return err
	}
	e, err := l.kv.Get(ctx, counter)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(string(e.Value))
	if n < limit {
		return nil
	}
	l.remember(counter, end)
	return l.refuse(end.Sub(l.now()))
}

// fail counts one failure of key in this window and returns the window's
// count.
func (l *limiter) fail(ctx context.Context, key string) (int, error) {
	if key == "" {
		return 0, nil
	}
	w, _ := l.slot()
	var n int
	_, err := store.Update(ctx, l.kv, key+"."+strconv.FormatInt(w, 10), func(cur []byte, _ bool) ([]byte, error) {
		n, _ = strconv.Atoi(string(cur))
		n++
		return strconv.AppendInt(nil, int64(n), 10), nil
	})
	return n, err
}

// reservation is an attempt counted by take; the zero value counted
// nothing.
type reservation struct {
	l       *limiter
	counter string
}

// take counts one attempt of key in this window before the attempt is
// made, and returns ErrRateLimited instead when key has already used its
// limit (limit < 0 never limits). Counting first bounds the attempts that
// run at once: with check and fail, concurrent attempts all pass the check
// before any failure is counted. An attempt that did not fail gives its
// count back with refund.
func (l *limiter) take(ctx context.Context, key string, limit int) (reservation, error) {
	if limit < 0 || key == "" {
		return reservation{}, nil
	}
	w, end := l.slot()
	counter := key + "." + strconv.FormatInt(w, 10)
	if err := l.refusedHot(counter, end); err != nil {
		return reservation{}, err
	}
	atLimit := false
	_, err := store.Update(ctx, l.kv, counter, func(cur []byte, _ bool) ([]byte, error) {
		n, _ := strconv.Atoi(string(cur))
		if n >= limit {
			atLimit = true
			return nil, l.refuse(end.Sub(l.now()))
		}
		return strconv.AppendInt(nil, int64(n+1), 10), nil
	})
	if atLimit {
		l.remember(counter, end)
	}
	if err != nil {
		return reservation{}, err
	}
	return reservation{l: l, counter: counter}, nil
}

// errNothingToRefund stops a refund of a counter that is gone.
var errNothingToRefund = errors.New("login: nothing to refund")

// refund gives back the attempt r counted.
func (r reservation) refund(ctx context.Context) error {
	if r.counter == "" {
		return nil
	}
	_, err := store.Update(ctx, r.l.kv, r.counter, func(cur []byte, exists bool) ([]byte, error) {
		n, _ := strconv.Atoi(string(cur))
		if !exists || n <= 0 {
			return nil, errNothingToRefund // the window's counter expired
		}
		return strconv.AppendInt(nil, int64(n-1), 10), nil
	})
	if errors.Is(err, errNothingToRefund) {
		return nil
	}
	return err
}

// rateLimited renders ErrRateLimited with a retry-after in whole seconds,
// rounded up.
func rateLimited(left time.Duration) *errs.Error {
	return withRetry(ErrRateLimited, "login: too many failed attempts", left)
}

// signupLimited renders ErrSignupLimited with a retry-after.
func signupLimited(left time.Duration) *errs.Error {
	return withRetry(ErrSignupLimited, "login: too many new accounts; try again later", left)
}

// withRetry renders e with msg and "; retry after Ns", N being left in
// whole seconds, rounded up, at least 1.
func withRetry(e *errs.Error, msg string, left time.Duration) *errs.Error {
	secs := int64((left + time.Second - 1) / time.Second)
	return e.WithMsg(fmt.Sprintf("%s; retry after %ds", msg, max(secs, 1)))
}

var retryRe = regexp.MustCompile(`retry after (\d+)s`)

// RetryAfter returns how long to wait before trying again, when err is
// ErrRateLimited, ErrSignupLimited or ErrBusy (also after a round trip to
// a client).
func RetryAfter(err error) (time.Duration, bool) {
	if !errors.Is(err, ErrRateLimited) && !errors.Is(err, ErrSignupLimited) && !errors.Is(err, ErrBusy) {
		return 0, false
	}
	m := retryRe.FindStringSubmatch(errs.From(err).Msg)
	if m == nil {
		return 0, false
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return time.Duration(n) * time.Second, true
}
