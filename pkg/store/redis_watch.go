package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/iogo-dev/iogo/pkg/internal/ctxsleep"
	"github.com/redis/go-redis/v9"
)

// Pacing of a Redis watcher.
const (
	// watchPing is how long a quiet subscription waits before it pings the
	// server, to notice a dead connection.
	watchPing = 30 * time.Second
	// watchBackoffMin and watchBackoffMax space the attempts to read again
	// after a connection error.
	watchBackoffMin = 10 * time.Millisecond
	watchBackoffMax = time.Second
)

// redisWatch is one Watch on Redis. It is used by its own goroutine only.
//
// The changes channel carries every write and delete of the bucket, in
// revision order. To get the current values without losing a change, the
// watcher subscribes first, then reads the keys (SCAN, HMGET), then publishes
// a marker with a nonce of its own on the channel and applies every change
// it receives before its marker on top of what it read: a key changed in
// between takes the state of its last change, and every other key did not
// change. The same synchronisation runs again after the subscription's
// connection was lost, when changes may have been missed; the watcher then
// sends the difference between what it had sent and the state read.
//
// To send that difference, and to report an expiry only for a key whose
// value it sent, the watcher keeps the revision of every live key under its
// prefix: memory grows with the number of keys watched.
type redisWatch struct {
	kv     *redisKV
	ps     *redis.PubSub
	prefix string
	out    chan *Change
	live   map[string]uint64 // key → revision sent, for keys with a value
}

// event is one parsed message of the subscription.
type event struct {
	op    byte // opPut, opDelete (also an expiry) or opSync
	key   string
	rev   uint64 // 0 for an expiry
	value []byte
	nonce string // of a sync marker
}

// run sends the initial values, the nil marker, then the changes, until ctx
// ends or the subscription is closed; it then closes ps and out.
func (w *redisWatch) run(ctx context.Context) {
	defer close(w.out)
	defer func() { _ = w.ps.Close() }()
	if !w.sync(ctx) || !w.send(ctx, nil) {
		return
	}
	backoff := watchBackoffMin
	for {
		msg, err := w.ps.ReceiveTimeout(ctx, watchPing)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, redis.ErrClosed) {
				return
			}
			if isTimeout(err) {
				_ = w.ps.Ping(ctx)
				continue
			}
			// go-redis reconnects and subscribes again; the confirmation
			// (a Subscription message) starts a resynchronisation.
			if !ctxsleep.Sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, watchBackoffMax)
			continue
		}
		backoff = watchBackoffMin
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == w.kv.channel && !w.sync(ctx) {
				return
			}
		case *redis.Message:
			ev, ok := w.parse(m)
			if !ok || ev.op == opSync {
				continue
			}
			if !w.apply(ctx, ev) {
				return
			}
		}
	}
}

// apply sends the change of ev, if it changes what the watcher has sent.
func (w *redisWatch) apply(ctx context.Context, ev event) bool {
	rev, live := w.live[ev.key]
	switch {
	case ev.op == opDelete && live:
		delete(w.live, ev.key)
		return w.send(ctx, &Change{Entry: Entry{Key: ev.key, Revision: ev.rev}, Deleted: true})
	case ev.op == opPut && (!live || ev.rev > rev):
		w.live[ev.key] = ev.rev
		return w.send(ctx, &Change{Entry: Entry{Key: ev.key, Value: ev.value, Revision: ev.rev}})
	}
	return true
}

// sync reads the current values of the watched keys as described on
// redisWatch and sends what differs from the live set, in key order. It
// retries after errors until ctx ends; it returns false then.
func (w *redisWatch) sync(ctx context.Context) bool {
	backoff := watchBackoffMin
	for {
		state, err := w.state(ctx)
		if err == nil {
			return w.sendDiff(ctx, state)
		}
		if ctx.Err() != nil || errors.Is(err, redis.ErrClosed) || !ctxsleep.Sleep(ctx, backoff) {
			return false
		}
		backoff = min(2*backoff, watchBackoffMax)
	}
}

// errResubscribed aborts a synchronisation during which the subscription
// was renewed: changes may have been missed, so it must start again.
var errResubscribed = errors.New("store: redis subscription renewed")

// state returns the current entries of the watched keys.
func (w *redisWatch) state(ctx context.Context) (map[string]Entry, error) {
	state := map[string]Entry{}
	err := w.kv.scan(ctx, w.prefix, func(keys []string) error {
		cmds := make([]*redis.SliceCmd, len(keys))
		_, err := w.kv.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				cmds[i] = p.HMGet(ctx, w.kv.pre+k, "v", "r")
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i, k := range keys {
			if e, ok := entryOf(k, cmds[i].Val()); ok {
				state[k] = e
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	nonce := hex.EncodeToString(b[:])
	if err := w.kv.rdb.Publish(ctx, w.kv.channel, string(opSync)+" "+nonce).Err(); err != nil {
		return nil, err
	}
	for {
		msg, err := w.ps.ReceiveTimeout(ctx, watchPing)
		if err != nil {
			return nil, err
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == w.kv.channel {
				return nil, errResubscribed
			}
		case *redis.Message:
			ev, ok := w.parse(m)
			switch {
			case !ok:
			case ev.op == opSync && ev.nonce == nonce:
				return state, nil
			case ev.op == opPut:
				state[ev.key] = Entry{Key: ev.key, Value: ev.value, Revision: ev.rev}
			case ev.op == opDelete:
				delete(state, ev.key)
			}
		}
	}
}

// sendDiff sends the changes that take the watcher's consumer from the live
// set to state, and makes state the live set.
func (w *redisWatch) sendDiff(ctx context.Context, state map[string]Entry) bool {
	for _, k := range slices.Sorted(maps.Keys(w.live)) {
		if _, ok := state[k]; !ok {
			delete(w.live, k)
			if !w.send(ctx, &Change{Entry: Entry{Key: k}, Deleted: true}) {
				return false
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(state)) {
		e := state[k]
		if rev, ok := w.live[k]; ok && rev == e.Revision {
			continue
		}
		w.live[k] = e.Revision
		if !w.send(ctx, &Change{Entry: e}) {
			return false
		}
	}
	return true
}

// send sends c on out unless ctx ends first.
func (w *redisWatch) send(ctx context.Context, c *Change) bool {
	select {
	case w.out <- c:
		return true
	case <-ctx.Done():
		return false
	}
}

// parse decodes a message of the changes or the expiry channel; ok is false
// for a message that does not concern the watched keys.
func (w *redisWatch) parse(m *redis.Message) (ev event, ok bool) {
	if m.Channel != w.kv.channel {
		// An expiry notification: the payload is the Redis key.
		key, ok := strings.CutPrefix(m.Payload, w.kv.pre)
		if !ok || !strings.HasPrefix(key, w.prefix) || !ValidKey(key) {
			return event{}, false
		}
		return event{op: opDelete, key: key}, true
	}
	head, value, _ := strings.Cut(m.Payload, "\n")
	if nonce, ok := strings.CutPrefix(head, string(opSync)+" "); ok {
		return event{op: opSync, nonce: nonce}, true
	}
	revStr, rest, ok1 := strings.Cut(head, " ")
	op, key, ok2 := strings.Cut(rest, " ")
	rev, err := strconv.ParseUint(revStr, 10, 64)
	if !ok1 || !ok2 || err != nil || len(op) != 1 || !strings.HasPrefix(key, w.prefix) {
		return event{}, false
	}
	switch op[0] {
	case opPut:
		return event{op: opPut, key: key, rev: rev, value: []byte(value)}, true
	case opDelete:
		return event{op: opDelete, key: key, rev: rev}, true
	}
	return event{}, false
}

// isTimeout reports whether err is a network time-out.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
