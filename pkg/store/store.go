package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Errors returned by every implementation; test them with errors.Is.
var (
	// ErrNotFound: the key has no value (never written, deleted or expired).
	ErrNotFound = errors.New("store: key not found")
	// ErrExists: Create found a value under the key.
	ErrExists = errors.New("store: key exists")
	// ErrConflict: Update found a revision other than the one given; read
	// the key again and retry.
	ErrConflict = errors.New("store: revision conflict")
	// ErrBadKey: the key (or a Keys/Watch prefix) is empty, longer than
	// MaxKeyLen, has an empty token or a character outside the key alphabet.
	ErrBadKey = errors.New("store: invalid key")
	// ErrBadBucket: Open got a [Bucket] that [Bucket.Validate] rejects.
	ErrBadBucket = errors.New("store: invalid bucket")
)

// Entry is one value of a key, with the revision that wrote it.
type Entry struct {
	Key      string
	Value    []byte
	Revision uint64
}

// Change is one event of a watch: a write (Deleted false, Entry holds the
// new value) or a delete or expiry (Deleted true, Entry.Value nil). The
// Revision of a delete orders it among the bucket's writes where the backend
// knows it; it is 0 for an expiry on Redis, and for a delete that a Redis
// watcher inferred after losing its connection.
type Change struct {
	Entry
	Deleted bool
}

// KV is a bucket of keys. Implementations are safe for concurrent use.
type KV interface {
	// Get returns the current value of key, or ErrNotFound.
	Get(ctx context.Context, key string) (Entry, error)
	// Put writes value under key, whatever was there, and returns the new revision.
	Put(ctx context.Context, key string, value []byte) (uint64, error)
	// Create writes value only if key has no value; otherwise ErrExists.
	Create(ctx context.Context, key string, value []byte) (uint64, error)
	// Update writes value only if key's current revision is rev, as
	// returned by Get, Put, Create, Update or a watch's write; otherwise
	// ErrConflict (ErrNotFound when the key has no value). The revision of
	// a delete (a watch's Deleted change) is not one to update from: use
	// Create to write the key again.
	Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// DeleteRev removes key only if its current revision is rev: ErrConflict
	// when it has another, ErrNotFound when it has no value. It is how a
	// writer removes exactly what it read, not what another wrote since.
	DeleteRev(ctx context.Context, key string, rev uint64) error
	// Keys lists, sorted, the keys that start with prefix ("" lists all);
	// an empty, non-nil slice when there are none. A prefix ending in '.'
	// matches whole tokens: "guild." lists "guild.7" and "guild.7.member.3"
	// but not "guilds.1". A prefix is "", a valid key, or a valid key
	// followed by '.'; any other gives ErrBadKey.
	Keys(ctx context.Context, prefix string) ([]string, error)
	// Watch sends the current value of every key with the prefix (as for
	// Keys), then every later change, on the returned channel, until ctx
	// ends; the channel is then closed. A nil Change marks the end of the
	// initial values (sent also when there are none). The channel is
	// unbuffered: a watcher that stops reading holds up only itself. The
	// channel also closes if the backend ends the watch for good (the
	// connection was closed); watch again to resume.
	Watch(ctx context.Context, prefix string) (<-chan *Change, error)
}

// Bucket configures a KV bucket.
type Bucket struct {
	// Name of the bucket: A-Z a-z 0-9 '-' '_'. Modules use their service
	// name, e.g. "login_accounts".
	Name string
	// TTL, when positive, removes every key this long after its last write.
	TTL time.Duration
	// Description is shown by operator tools.
	Description string
}

// Opener opens buckets on one backend.
type Opener interface {
	// Open creates the bucket if it does not exist and returns it.
	Open(ctx context.Context, b Bucket) (KV, error)
}

// Update reads key, applies fn to its value and writes the result with
// [KV.Update] (or [KV.Create] when the key has no value, in which case fn
// gets nil and exists false), retrying on ErrConflict/ErrExists until it
// succeeds or ctx ends. fn may run several times and must have no other
// effects; an error from fn stops the loop and is returned as is.
func Update(ctx context.Context, kv KV, key string, fn func(cur []byte, exists bool) ([]byte, error)) (uint64, error) {
	for {
		e, err := kv.Get(ctx, key)
		exists := err == nil
		if err != nil && !errors.Is(err, ErrNotFound) {
			return 0, err
		}
		next, err := fn(e.Value, exists)
		if err != nil {
			return 0, err
		}
		var rev uint64
		if exists {
			rev, err = kv.Update(ctx, key, next, e.Revision)
		} else {
			rev, err = kv.Create(ctx, key, next)
		}
		switch {
		case err == nil:
			return rev, nil
		case errors.Is(err, ErrConflict), errors.Is(err, ErrExists), errors.Is(err, ErrNotFound):
			if ctx.Err() != nil {
				return 0, fmt.Errorf("store: update %s: %w", key, ctx.Err())
			}
		default:
			return 0, err
		}
	}
}
