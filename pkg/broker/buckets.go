package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/store"
)

// ServicesTTL is how long an entry of the fabric.BucketServices bucket lives
// after its last write. A live instance re-puts its entry at least every
// ServicesTTL/3; an instance that stops doing so disappears, and watchers of
// the bucket see a delete marker for it.
const ServicesTTL = 15 * time.Second

// MaxReplicas caps the replica count of the framework buckets.
const MaxReplicas = 3

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
// ctx ends (see [store.RetryJetStream]); it then returns an error wrapping
// both ctx.Err() and the last JetStream error. A JetStream error that
// retrying cannot fix is returned at once.
func EnsureBuckets(ctx context.Context, js jetstream.JetStream, replicas int) error {
	replicas = max(1, replicas)
	names := fabric.Buckets()
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		cfg := bucketConfig(name, replicas)
		wg.Go(func() {
			if err := store.RetryJetStream(ctx, func(ctx context.Context) error {
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
