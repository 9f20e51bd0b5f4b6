package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/iogo-dev/iogo/pkg/fabric"
)

// minMarkerTTL is the shortest delete-marker lifetime JetStream accepts.
const minMarkerTTL = time.Second

// NewJetStream returns an [Opener] of JetStream KV buckets. A bucket is the
// JetStream KV bucket of exactly the given name (stream "KV_"+Name), file
// backed, keeping one value per key, with as many replicas as the framework
// bucket fabric.BucketRoutes (1 when that bucket does not exist).
//
// A bucket with a TTL also keeps expiry markers (for the TTL, at least one
// second), so that watchers see an expired key as a delete.
//
// Revisions are the bucket stream's sequence numbers: they grow across the
// whole bucket, not per key.
func NewJetStream(js jetstream.JetStream) Opener {
	return jsOpener{js: js}
}

// jsOpener implements Opener on JetStream.
type jsOpener struct {
	js jetstream.JetStream
}

// Open creates the bucket, or updates its configuration to b, retrying
// while the JetStream cluster forms (see [RetryJetStream]).
func (o jsOpener) Open(ctx context.Context, b Bucket) (KV, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	var kv jetstream.KeyValue
	err := RetryJetStream(ctx, func(ctx context.Context) error {
		replicas, err := o.replicas(ctx)
		if err != nil {
			return err
		}
		cfg := jetstream.KeyValueConfig{
			Bucket:      b.Name,
			Description: b.Description,
			Replicas:    replicas,
			Storage:     jetstream.FileStorage,
		}
		if b.TTL > 0 {
			cfg.TTL = b.TTL
			cfg.LimitMarkerTTL = max(b.TTL, minMarkerTTL)
		}
		kv, err = o.js.CreateOrUpdateKeyValue(ctx, cfg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: open bucket %s: %w", b.Name, err)
	}
	return &jsKV{kv: kv}, nil
}

// replicas returns the replica count of the framework routes bucket, or 1
// when it does not exist.
func (o jsOpener) replicas(ctx context.Context) (int, error) {
	routes, err := o.js.KeyValue(ctx, fabric.BucketRoutes)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return 1, nil
	}
	if err != nil {
		return 0, err
	}
	st, err := routes.Status(ctx)
	if err != nil {
		return 0, err
	}
	return max(1, st.Config().Replicas), nil
}

// jsKV implements KV on a JetStream KV bucket.
type jsKV struct {
	kv jetstream.KeyValue
}

func (s *jsKV) Get(ctx context.Context, key string) (Entry, error) {
	if err := checkKey(key); err != nil {
		return Entry{}, err
	}
	e, err := s.kv.Get(ctx, key)
	if err != nil {
		return Entry{}, s.wrap("get", key, err)
	}
	return Entry{Key: key, Value: e.Value(), Revision: e.Revision()}, nil
}

func (s *jsKV) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	rev, err := s.kv.Put(ctx, key, value)
	if err != nil {
		return 0, s.wrap("put", key, err)
	}
	return rev, nil
}

func (s *jsKV) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	rev, err := s.kv.Create(ctx, key, value)
	if err == nil {
		return rev, nil
	}
	if wrongLastSeq(err) || errors.Is(err, jetstream.ErrKeyExists) {
		return 0, fmt.Errorf("store: create %s/%s: %w", s.kv.Bucket(), key, ErrExists)
	}
	return 0, s.wrap("create", key, err)
}

func (s *jsKV) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	if rev == 0 {
		// JetStream reads revision 0 as "no value yet", which is Create.
		return 0, s.mismatch(ctx, key)
	}
	next, err := s.kv.Update(ctx, key, value, rev)
	if err == nil {
		return next, nil
	}
	if wrongLastSeq(err) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, s.mismatch(ctx, key)
	}
	return 0, s.wrap("update", key, err)
}

// mismatch returns the error of an Update whose revision did not match:
// ErrNotFound when the key has no value, ErrConflict otherwise.
func (s *jsKV) mismatch(ctx context.Context, key string) error {
	_, err := s.kv.Get(ctx, key)
	switch {
	case err == nil:
		return fmt.Errorf("store: update %s/%s: %w", s.kv.Bucket(), key, ErrConflict)
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return fmt.Errorf("store: update %s/%s: %w", s.kv.Bucket(), key, ErrNotFound)
	default:
		return s.wrap("update", key, err)
	}
}

func (s *jsKV) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := s.kv.Delete(ctx, key); err != nil {
		return s.wrap("delete", key, err)
	}
	return nil
}

func (s *jsKV) Keys(ctx context.Context, prefix string) ([]string, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	// Like ListKeysFiltered, but stopping the watcher safely when ctx ends
	// mid-listing (see stop).
	w, err := s.kv.Watch(ctx, subjectFilter(prefix), jetstream.IgnoreDeletes(), jetstream.MetaOnly())
	if err != nil {
		return nil, s.wrap("keys", prefix, err)
	}
	defer stop(w)
	keys := []string{}
	for {
		select {
		case <-ctx.Done():
			return nil, s.wrap("keys", prefix, ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("store: keys %s/%s: watcher closed", s.kv.Bucket(), prefix)
			}
			if e == nil {
				slices.Sort(keys)
				return slices.Compact(keys), nil
			}
			if strings.HasPrefix(e.Key(), prefix) {
				keys = append(keys, e.Key())
			}
		}
	}
}

func (s *jsKV) Watch(ctx context.Context, prefix string) (<-chan *Change, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	w, err := s.kv.Watch(ctx, subjectFilter(prefix))
	if err != nil {
		return nil, s.wrap("watch", prefix, err)
	}
	out := make(chan *Change)
	go relay(ctx, w, prefix, out)
	return out, nil
}

// relay translates the entries of w into out until ctx ends or w closes,
// then stops w, waits for its delivery goroutine to end and closes out.
func relay(ctx context.Context, w jetstream.KeyWatcher, prefix string, out chan<- *Change) {
	defer close(out)
	defer stop(w)
	initial := true
	for {
		var e jetstream.KeyValueEntry
		select {
		case <-ctx.Done():
			return
		case v, ok := <-w.Updates():
			if !ok {
				return
			}
			e = v
		}
		var c *Change
		switch {
		case e == nil:
			initial = false
		case !strings.HasPrefix(e.Key(), prefix):
			continue
		case e.Operation() != jetstream.KeyValuePut:
			if initial {
				continue // a key deleted before the watch has no current value
			}
			c = &Change{Entry: Entry{Key: e.Key(), Revision: e.Revision()}, Deleted: true}
		default:
			c = &Change{Entry: Entry{Key: e.Key(), Value: e.Value(), Revision: e.Revision()}}
		}
		select {
		case out <- c:
		case <-ctx.Done():
			return
		}
	}
}

// stop stops w and waits for its delivery goroutine to end: the watcher's
// callback may be blocked on its full channel, so the channel is drained
// until the subscription's closed handler closes it.
func stop(w jetstream.KeyWatcher) {
	_ = w.Stop()
	for range w.Updates() {
	}
}

// subjectFilter returns the narrowest subject filter, relative to the
// bucket, that matches every key with prefix: the prefix's whole tokens
// followed by '>'. Keys with a partial last token are filtered by the caller.
func subjectFilter(prefix string) string {
	return prefix[:strings.LastIndexByte(prefix, '.')+1] + ">"
}

// wrongLastSeq reports whether err is JetStream's answer to a write whose
// expected last revision did not match: code 10071, or 10164 on replicated
// streams.
func wrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// wrap adds the operation and key to err, mapping a missing or deleted key
// to ErrNotFound.
func (s *jsKV) wrap(op, key string, err error) error {
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return fmt.Errorf("store: %s %s/%s: %w", op, s.kv.Bucket(), key, ErrNotFound)
	}
	return fmt.Errorf("store: %s %s/%s: %w", op, s.kv.Bucket(), key, err)
}
