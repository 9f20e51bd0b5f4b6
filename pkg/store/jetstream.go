package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/internal/ctxsleep"
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
	var kv *jsKV
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
		bkv, err := o.js.CreateOrUpdateKeyValue(ctx, cfg)
		if err != nil {
			return err
		}
		if replicas == 1 {
			kv = &jsKV{kv: bkv}
			return nil
		}
		kv, err = o.leaderReads(ctx, b.Name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: open bucket %s: %w", b.Name, err)
	}
	return kv, nil
}

// leaderReads turns off direct gets on a replicated bucket, which any
// replica answers, possibly before it has applied the latest writes, and
// binds the bucket again so that Get reads from the stream leader.
func (o jsOpener) leaderReads(ctx context.Context, bucket string) (*jsKV, error) {
	stream, err := o.js.Stream(ctx, kvStreamPrefix+bucket)
	if err != nil {
		return nil, err
	}
	if cfg := stream.CachedInfo().Config; cfg.AllowDirect {
		cfg.AllowDirect = false
		if stream, err = o.js.UpdateStream(ctx, cfg); err != nil {
			return nil, err
		}
	}
	kv, err := o.js.KeyValue(ctx, bucket)
	if err != nil {
		return nil, err
	}
	return &jsKV{kv: kv, stream: stream, subjects: kvSubjectPrefix + bucket + "."}, nil
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

// Names JetStream gives a KV bucket's stream and subjects.
const (
	kvStreamPrefix  = "KV_"
	kvSubjectPrefix = "$KV."
)

// catchUpTimeout bounds how long a watcher of a replicated bucket waits for
// its consumer's replica to reach the bucket's last write (see
// jsKV.watch); past it, the initial values may miss the latest writes.
const catchUpTimeout = 10 * time.Second

// jsKV implements KV on a JetStream KV bucket.
//
// On a replicated bucket, reads must not see an older state than the
// writes the caller has seen acknowledged. Get reads from the stream leader
// (direct gets are off). Keys and Watch read through a consumer, which the
// server places on any replica: they first ask the leader for the bucket's
// last write, also watch its key, and deliver the initial values only once
// the consumer has delivered that write.
type jsKV struct {
	kv       jetstream.KeyValue
	stream   jetstream.Stream // the bucket's stream when replicated, else nil
	subjects string           // subject prefix of the keys when replicated
}

func (s *jsKV) Get(ctx context.Context, key string) (Entry, error) {
	if err := checkKey(key); err != nil {
		return Entry{}, err
	}
	// A read is safe to repeat: while the node the connection is on shuts
	// down or a replica goes away, JetStream answers "temporarily
	// unavailable" (503) or a direct get sent to the replica that left is
	// never answered. Each attempt is bounded (readAttempt), so the next
	// goes to a node that serves, within what a player waits.
	e, err := s.getOnce(ctx, key)
	for backoff, until := readRetryMin, time.Now().Add(readRetryFor); err != nil && retryableRead(ctx, err) && time.Now().Before(until); backoff = min(2*backoff, readRetryMax) {
		if !ctxsleep.Sleep(ctx, backoff) {
			break
		}
		e, err = s.getOnce(ctx, key)
	}
	if err != nil {
		return Entry{}, s.wrap("get", key, err)
	}
	return Entry{Key: key, Value: e.Value(), Revision: e.Revision()}, nil
}

// getOnce is one attempt of Get, bounded by readAttempt.
func (s *jsKV) getOnce(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	actx, cancel := context.WithTimeout(ctx, readAttempt)
	defer cancel()
	return s.kv.Get(actx, key)
}

// Retry pacing of a read (jsKV.Get): an attempt waits at most
// readAttempt; attempts go on for at most readRetryFor, spaced from
// readRetryMin to readRetryMax.
const (
	readAttempt  = time.Second
	readRetryFor = 3 * time.Second
	readRetryMin = 10 * time.Millisecond
	readRetryMax = 250 * time.Millisecond
)

// retryableRead reports whether a failed read may succeed on another
// attempt: JetStream was unavailable for a moment, or the attempt timed
// out while ctx goes on.
func retryableRead(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	return unavailable(err) || errors.Is(err, context.DeadlineExceeded)
}

// unavailable reports whether err is JetStream's answer while a node
// cannot serve for a moment: 503 (10008 temporarily unavailable, no
// responders behind the API) or 10009 (not the leader).
func unavailable(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.Code == 503 || apiErr.ErrorCode == errCodeClusterNotAvail || apiErr.ErrorCode == errCodeClusterNotLead
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
	for backoff := inFlightBackoffMin; ; backoff = min(2*backoff, inFlightBackoffMax) {
		rev, err := s.kv.Create(ctx, key, value)
		if err == nil {
			return rev, nil
		}
		if !wrongLastSeq(err) && !errors.Is(err, jetstream.ErrKeyExists) {
			return 0, s.wrap("create", key, err)
		}
		if inFlight(err) {
			// The leader could not check: look whether the key has a value.
			_, err := s.kv.Get(ctx, key)
			if notFound(err) {
				if !ctxsleep.Sleep(ctx, backoff) {
					return 0, s.wrap("create", key, ctx.Err())
				}
				continue
			}
			if err != nil {
				return 0, s.wrap("create", key, err)
			}
		}
		return 0, fmt.Errorf("store: create %s/%s: %w", s.kv.Bucket(), key, ErrExists)
	}
}

func (s *jsKV) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	for backoff := inFlightBackoffMin; ; backoff = min(2*backoff, inFlightBackoffMax) {
		var err error
		if rev != 0 { // JetStream reads revision 0 as "no value yet", which is Create
			var next uint64
			next, err = s.kv.Update(ctx, key, value, rev)
			if err == nil {
				return next, nil
			}
			if !wrongLastSeq(err) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
				return 0, s.wrap("update", key, err)
			}
		}
		e, gerr := s.kv.Get(ctx, key)
		switch {
		case notFound(gerr):
			return 0, fmt.Errorf("store: update %s/%s: %w", s.kv.Bucket(), key, ErrNotFound)
		case gerr != nil:
			return 0, s.wrap("update", key, gerr)
		case e.Revision() == rev && inFlight(err):
			// The leader could not check, and the revision still matches.
			if !ctxsleep.Sleep(ctx, backoff) {
				return 0, s.wrap("update", key, ctx.Err())
			}
		default:
			return 0, fmt.Errorf("store: update %s/%s: %w", s.kv.Bucket(), key, ErrConflict)
		}
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

func (s *jsKV) DeleteRev(ctx context.Context, key string, rev uint64) error {
	if err := checkKey(key); err != nil {
		return err
	}
	for backoff := inFlightBackoffMin; ; backoff = min(2*backoff, inFlightBackoffMax) {
		var err error
		if rev != 0 { // JetStream reads LastRevision(0) as "no check"
			err = s.kv.Delete(ctx, key, jetstream.LastRevision(rev))
			if err == nil {
				return nil
			}
			if !wrongLastSeq(err) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
				return s.wrap("delete", key, err)
			}
		}
		// As in Update: tell a missing value and another revision apart,
		// and wait out a previous write of the key still in flight.
		e, gerr := s.kv.Get(ctx, key)
		switch {
		case notFound(gerr):
			return fmt.Errorf("store: delete %s/%s: %w", s.kv.Bucket(), key, ErrNotFound)
		case gerr != nil:
			return s.wrap("delete", key, gerr)
		case e.Revision() == rev && inFlight(err):
			if !ctxsleep.Sleep(ctx, backoff) {
				return s.wrap("delete", key, ctx.Err())
			}
		default:
			return fmt.Errorf("store: delete %s/%s: %w", s.kv.Bucket(), key, ErrConflict)
		}
	}
}

func (s *jsKV) Keys(ctx context.Context, prefix string) ([]string, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	// Like ListKeysFiltered, but consistent on replicated buckets (see
	// jsKV) and stopping the watcher safely when ctx ends (see stop).
	w, floor, err := s.watch(ctx, prefix, jetstream.MetaOnly())
	if err != nil {
		return nil, s.wrap("keys", prefix, err)
	}
	defer stop(w)
	init := newInitial(prefix, floor)
	timeout := time.NewTimer(catchUpTimeout)
	defer timeout.Stop()
	for !init.done() {
		select {
		case <-ctx.Done():
			return nil, s.wrap("keys", prefix, ctx.Err())
		case <-timeout.C:
			init.caught = true
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("store: keys %s/%s: watcher closed", s.kv.Bucket(), prefix)
			}
			init.add(e)
		}
	}
	keys := make([]string, 0, len(init.values))
	keys = slices.AppendSeq(keys, maps.Keys(init.values))
	slices.Sort(keys)
	return keys, nil
}

func (s *jsKV) Watch(ctx context.Context, prefix string) (<-chan *Change, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, s.wrap("watch", prefix, err)
	}
	w, floor, err := s.watch(ctx, prefix)
	if err != nil {
		return nil, s.wrap("watch", prefix, err)
	}
	out := make(chan *Change)
	go relay(ctx, w, newInitial(prefix, floor), out)
	return out, nil
}

// watch starts a watcher of the keys with prefix. On a replicated bucket
// it also returns the stream sequence of the bucket's last write, read from
// the leader, and watches that write's key too: once the watcher delivers
// a revision at or past it, its replica has delivered every earlier write.
func (s *jsKV) watch(ctx context.Context, prefix string, opts ...jetstream.WatchOpt) (jetstream.KeyWatcher, uint64, error) {
	filter := subjectFilter(prefix)
	filters := []string{filter}
	var floor uint64
	if s.stream != nil {
		seq, key, err := s.lastWrite(ctx)
		if err != nil {
			return nil, 0, err
		}
		floor = seq
		if seq > 0 && !strings.HasPrefix(key, strings.TrimSuffix(filter, ">")) {
			filters = append(filters, key)
		}
	}
	w, err := s.kv.WatchFiltered(ctx, filters, opts...)
	if err != nil {
		return nil, 0, err
	}
	return w, floor, nil
}

// lastWrite returns the sequence and key of the bucket's last message, as
// the stream leader knows it; 0 when the bucket has none.
func (s *jsKV) lastWrite(ctx context.Context) (uint64, string, error) {
	var prev uint64
	for {
		info, err := s.stream.Info(ctx)
		if err != nil {
			return 0, "", err
		}
		seq := info.State.LastSeq
		if info.State.Msgs == 0 || seq == prev {
			// Empty, or the last message is gone (expired) with nothing
			// written since: no write to wait for.
			return 0, "", nil
		}
		m, err := s.stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			prev = seq // replaced or expired meanwhile: look again
			continue
		}
		if err != nil {
			return 0, "", err
		}
		return seq, strings.TrimPrefix(m.Subject, s.subjects), nil
	}
}

// initial gathers the initial values of a watch: the entries a watcher
// delivers before its nil marker and, on a replicated bucket, before it
// delivers a revision at or past floor (see jsKV.watch). Later entries of
// a key replace earlier ones; a delete removes the key.
type initial struct {
	prefix string
	floor  uint64
	marker bool // the watcher sent its nil marker
	caught bool // the watcher delivered floor or later
	values map[string]*Change
}

func newInitial(prefix string, floor uint64) *initial {
	return &initial{prefix: prefix, floor: floor, caught: floor == 0, values: map[string]*Change{}}
}

// add records e (nil is the watcher's marker).
func (in *initial) add(e jetstream.KeyValueEntry) {
	if e == nil {
		in.marker = true
		return
	}
	if e.Revision() >= in.floor {
		in.caught = true
	}
	if c := change(e, in.prefix); c != nil {
		if c.Deleted {
			delete(in.values, c.Key)
		} else {
			in.values[c.Key] = c
		}
	}
}

// done reports whether the initial values are complete.
func (in *initial) done() bool { return in.marker && in.caught }

// change translates e into a Change, nil when its key lacks the prefix.
func change(e jetstream.KeyValueEntry, prefix string) *Change {
	if !strings.HasPrefix(e.Key(), prefix) {
		return nil
	}
	if e.Operation() != jetstream.KeyValuePut {
		return &Change{Entry: Entry{Key: e.Key(), Revision: e.Revision()}, Deleted: true}
	}
	return &Change{Entry: Entry{Key: e.Key(), Value: e.Value(), Revision: e.Revision()}}
}

// relay sends the initial values gathered by init in key order, the nil
// marker, then the changes of w, on out until ctx ends or w closes; it then
// stops w and closes out.
func relay(ctx context.Context, w jetstream.KeyWatcher, init *initial, out chan<- *Change) {
	defer close(out)
	defer stop(w)
	send := func(c *Change) bool {
		select {
		case out <- c:
			return true
		case <-ctx.Done():
			return false
		}
	}
	timeout := time.NewTimer(catchUpTimeout)
	defer timeout.Stop()
	for !init.done() {
		select {
		case <-ctx.Done():
			return
		case <-timeout.C:
			init.caught = true
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			init.add(e)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(init.values)) {
		if !send(init.values[k]) {
			return
		}
	}
	if !send(nil) {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil {
				continue
			}
			if c := change(e, init.prefix); c != nil && !send(c) {
				return
			}
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

// Pacing of the retries of a Create or Update that met another write of the
// same key in flight.
const (
	inFlightBackoffMin = time.Millisecond
	inFlightBackoffMax = 100 * time.Millisecond
)

// inFlight reports whether err is the answer of a replicated stream's
// leader to a write with an expected revision while another write of the
// same key was still in flight (code 10164): the revision was not checked,
// and the write may succeed when tried again.
func inFlight(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// notFound reports whether err says that a key has no value.
func notFound(err error) bool {
	return errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted)
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
	if notFound(err) {
		return fmt.Errorf("store: %s %s/%s: %w", op, s.kv.Bucket(), key, ErrNotFound)
	}
	return fmt.Errorf("store: %s %s/%s: %w", op, s.kv.Bucket(), key, err)
}
