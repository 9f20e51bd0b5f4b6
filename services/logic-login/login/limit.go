package login

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/store"
)

// limiter counts failed logins per key in fixed windows shared by every
// instance: the counter of key k in window w is the store key "<k>.<w>",
// raised with compare-and-set and removed by the bucket's TTL (one window)
// after its last write.
type limiter struct {
	kv     store.KV
	window time.Duration
	now    func() time.Time
}

// ipKey and accountKey name the counters of a client IP and a username.
func ipKey(ip string) string { return "ip." + base64.RawURLEncoding.EncodeToString([]byte(ip)) }

func accountKey(username string) string {
	return "acct." + base64.RawURLEncoding.EncodeToString([]byte(strings.ToLower(username)))
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
	e, err := l.kv.Get(ctx, key+"."+strconv.FormatInt(w, 10))
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
	return rateLimited(end.Sub(l.now()))
}

// fail counts one failure of key in this window.
func (l *limiter) fail(ctx context.Context, key string) error {
	if key == "" {
		return nil
	}
	w, _ := l.slot()
	_, err := store.Update(ctx, l.kv, key+"."+strconv.FormatInt(w, 10), func(cur []byte, _ bool) ([]byte, error) {
		n, _ := strconv.Atoi(string(cur))
		return strconv.AppendInt(nil, int64(n+1), 10), nil
	})
	return err
}

// reservation is an attempt counted by take; the zero value counted
// nothing.
type reservation struct{ counter string }

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
	_, err := store.Update(ctx, l.kv, counter, func(cur []byte, _ bool) ([]byte, error) {
		n, _ := strconv.Atoi(string(cur))
		if n >= limit {
			return nil, rateLimited(end.Sub(l.now()))
		}
		return strconv.AppendInt(nil, int64(n+1), 10), nil
	})
	if err != nil {
		return reservation{}, err
	}
	return reservation{counter: counter}, nil
}

// errNothingToRefund stops a refund of a counter that is gone.
var errNothingToRefund = errors.New("login: nothing to refund")

// refund gives back the attempt r counted.
func (l *limiter) refund(ctx context.Context, r reservation) error {
	if r.counter == "" {
		return nil
	}
	_, err := store.Update(ctx, l.kv, r.counter, func(cur []byte, exists bool) ([]byte, error) {
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
	secs := int64((left + time.Second - 1) / time.Second)
	return ErrRateLimited.WithMsg(fmt.Sprintf("login: too many failed attempts; retry after %ds", max(secs, 1)))
}

var retryRe = regexp.MustCompile(`retry after (\d+)s`)

// RetryAfter returns how long to wait before trying again, when err is
// ErrRateLimited (also after a round trip to a client).
func RetryAfter(err error) (time.Duration, bool) {
	if !errors.Is(err, ErrRateLimited) {
		return 0, false
	}
	m := retryRe.FindStringSubmatch(errs.From(err).Msg)
	if m == nil {
		return 0, false
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return time.Duration(n) * time.Second, true
}
