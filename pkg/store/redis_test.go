package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/iogo-dev/iogo/pkg/store"
	"github.com/iogo-dev/iogo/pkg/store/redistest"
	"github.com/iogo-dev/iogo/pkg/store/storetest"
)

// redisClient returns a client of a Redis server at addr, closed when the
// test ends.
func redisClient(t testing.TB, addr string) redis.UniversalClient {
	t.Helper()
	rdb, err := store.RedisFromURL("redis://" + addr + "/0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rdb.Close(); err != nil {
			t.Error(err)
		}
	})
	return rdb
}

func TestRedis(t *testing.T) {
	addr := redistest.Start(t)
	storetest.Run(t, func(t *testing.T) store.Opener { return store.NewRedis(redisClient(t, addr)) })
}

// TestRedisWatchReconnect cuts the watcher's connection while keys change:
// after go-redis reconnects, the watcher synchronises again and reports
// what it missed, deletes included.
func TestRedisWatchReconnect(t *testing.T) {
	addr := redistest.Start(t)
	rdb := redisClient(t, addr)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	kv, err := store.NewRedis(rdb).Open(ctx, store.Bucket{Name: "reconnect"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"k.1", "k.2"} {
		if _, err := kv.Put(ctx, k, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	ch, err := kv.Watch(ctx, "k.")
	if err != nil {
		t.Fatal(err)
	}
	next := func() *store.Change {
		t.Helper()
		select {
		case c, ok := <-ch:
			if !ok {
				t.Fatal("watch closed")
			}
			return c
		case <-ctx.Done():
			t.Fatal("no watch event")
			return nil
		}
	}
	for c := next(); c != nil; c = next() {
	}

	tests := []struct {
		name  string
		write func() error
		want  store.Change
	}{
		{"put", func() error { _, err := kv.Put(ctx, "k.3", []byte("new")); return err },
			store.Change{Entry: store.Entry{Key: "k.3", Value: []byte("new")}}},
		{"delete", func() error { return kv.Delete(ctx, "k.1") },
			store.Change{Entry: store.Entry{Key: "k.1"}, Deleted: true}},
		{"update", func() error { _, err := kv.Put(ctx, "k.2", []byte("v2")); return err },
			store.Change{Entry: store.Entry{Key: "k.2", Value: []byte("v2")}}},
	}
	for _, tt := range tests {
		if err := rdb.ClientKillByFilter(ctx, "TYPE", "pubsub").Err(); err != nil {
			t.Fatal(err)
		}
		if err := tt.write(); err != nil {
			t.Fatal(err)
		}
		c := next()
		if c == nil || c.Key != tt.want.Key || c.Deleted != tt.want.Deleted || !bytes.Equal(c.Value, tt.want.Value) {
			t.Fatalf("%s: got %+v, want %+v", tt.name, c, tt.want)
		}
	}
	// Nothing else came: the next change is the next write.
	if _, err := kv.Put(ctx, "k.last", nil); err != nil {
		t.Fatal(err)
	}
	if c := next(); c == nil || c.Key != "k.last" {
		t.Fatalf("got %+v, want the change of k.last", c)
	}
	cancel()
	for range ch {
	}
}

// TestRedisWatchers runs several watchers of one bucket at once: each one
// synchronises on its own marker and sees every change once.
func TestRedisWatchers(t *testing.T) {
	addr := redistest.Start(t)
	rdb := redisClient(t, addr)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	kv, err := store.NewRedis(rdb).Open(ctx, store.Bucket{Name: "watchers"})
	if err != nil {
		t.Fatal(err)
	}
	const watchers, writes = 5, 100
	var wg sync.WaitGroup
	errs := make([]error, watchers)
	for i := range watchers {
		ch, err := kv.Watch(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			last := map[string]string{}
			for c := range ch {
				if c == nil {
					continue
				}
				last[c.Key] = string(c.Value)
				if len(last) == writes && last[fmt.Sprint("w.", writes-1)] == "done" {
					return
				}
			}
			errs[i] = fmt.Errorf("watcher %d: closed with %d keys", i, len(last))
		})
	}
	for i := range writes {
		v := "x"
		if i == writes-1 {
			v = "done"
		}
		if _, err := kv.Put(ctx, fmt.Sprint("w.", i), []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}
