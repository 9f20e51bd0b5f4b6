package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/iogo-dev/iogo/pkg/fabric"
)

// ServicesTTL is how long an entry of the fabric.BucketServices bucket lives
// after its last write. A live instance re-puts its entry at least every
// ServicesTTL/3; an instance that stops doing so disappears, and watchers of
// the bucket see a delete marker for it.
const ServicesTTL = 15 * time.Second

// MaxReplicas caps the replica count of the framework buckets.
const MaxReplicas = 3

// Retry pacing of EnsureBuckets. The first attempts are short: when several
// nodes create the same stream at once, the server may answer only one of
// the identical requests, and the others learn on their next attempt that the
// stream exists. Attempt time-outs grow so that a slow server still succeeds.
const (
	ensureAttemptMin = 250 * time.Millisecond
	ensureAttemptMax = 4 * time.Second
	ensureBackoffMin = 10 * time.Millisecond
	ensureBackoffMax = time.Second
)

// JetStream API error codes on which EnsureBuckets retries: no suitable
// peers for placement (peers not yet known to the meta leader), JetStream
// temporarily unavailable (no meta leader), not the leader, and a create
// that lost a race.
const (
	errCodeClusterNoPeers  jetstream.ErrorCode = 10005
	errCodeClusterNotAvail jetstream.ErrorCode = 10008
	errCodeClusterNotLead  jetstream.ErrorCode = 10009
	// errCodeStreamNameInUse answers a create that raced with an identical
	// create from another node; the next attempt updates instead.
	errCodeStreamNameInUse = jetstream.JSErrCodeStreamNameInUse
)

// ReplicasFor returns the replica count of the framework buckets for a
// cluster of clusterSize JetStream nodes: min(MaxReplicas, clusterSize), at
// least 1.
func ReplicasFor(clusterSize int) int {
	return max(1, min(MaxReplicas, clusterSize))
}

// EnsureBuckets creates the framework KV buckets listed by fabric.Buckets, or
// updates them to the expected configuration, with the given replica count
// (see [ReplicasFor]; values below 1 mean 1). It is idempotent and safe to call
// from several processes at once.
//
// While the cluster is still forming (no meta leader yet, or not enough peers
// known for placement) EnsureBuckets retries with backoff until it succeeds or
// ctx ends; it then returns an error wrapping both ctx.Err() and the last
// JetStream error. A JetStream error that retrying cannot fix is returned at
// once.
func EnsureBuckets(ctx context.Context, js jetstream.JetStream, replicas int) error {
	replicas = max(1, replicas)
	names := fabric.Buckets()
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		cfg := bucketConfig(name, replicas)
		wg.Go(func() {
			if err := retry(ctx, func(ctx context.Context) error {
				_, err := js.CreateOrUpdateKeyValue(ctx, cfg)
				return err
			}); err != nil {
				errs[i] = fmt.Errorf("broker: bucket %s: %w", name, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// bucketConfig is the configuration of one framework bucket.
func bucketConfig(name string, replicas int) jetstream.KeyValueConfig {
	cfg := jetstream.KeyValueConfig{Bucket: name, Replicas: replicas, Storage: jetstream.FileStorage}
	switch name {
	case fabric.BucketBindings:
		cfg.Description = "iogo: userID to player-to-logic-server bindings"
	case fabric.BucketRoutes:
		cfg.Description = "iogo: route registry"
	case fabric.BucketServices:
		cfg.Description = "iogo: live logic-server instances, kept by heartbeats"
		cfg.TTL = ServicesTTL
		cfg.LimitMarkerTTL = ServicesTTL
	}
	return cfg
}

// retry runs op until it succeeds, fails permanently or ctx ends. Each
// attempt gets its own deadline, so that a request lost while the cluster has
// no leader does not consume the whole of ctx.
func retry(ctx context.Context, op func(context.Context) error) error {
	backoff, attempt := ensureBackoffMin, ensureAttemptMin
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		actx, cancel := context.WithTimeout(ctx, attempt)
		err := op(actx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return errors.Join(ctx.Err(), err)
		}
		if !retryable(err) {
			return err
		}
		if timer == nil {
			timer = time.NewTimer(backoff)
		} else {
			timer.Reset(backoff)
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-timer.C:
		}
		backoff = min(2*backoff, ensureBackoffMax)
		attempt = min(2*attempt, ensureAttemptMax)
	}
}

// retryable reports whether err may go away while a cluster forms. API errors
// are retried only for the codes above or a 503 status; a closed connection
// is final; anything else (time-outs, no responders, a reconnecting
// connection) is assumed transient.
func retryable(err error) bool {
	if errors.Is(err, nats.ErrConnectionClosed) {
		return false
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return true
	}
	switch apiErr.ErrorCode {
	case errCodeClusterNoPeers, errCodeClusterNotAvail, errCodeClusterNotLead, errCodeStreamNameInUse:
		return true
	}
	return apiErr.Code == 503
}
