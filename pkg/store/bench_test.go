package store_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/iogo-dev/iogo/pkg/store"
	"github.com/iogo-dev/iogo/pkg/store/redistest"
)

// backends are the stores the benchmarks compare, each on a server of its
// own started for the benchmark.
var backends = []struct {
	name string
	open func(b *testing.B) store.Opener
}{
	{"jetstream", func(b *testing.B) store.Opener { return store.NewJetStream(startJetStream(b)) }},
	{"redis", func(b *testing.B) store.Opener { return store.NewRedis(redisClient(b, redistest.Start(b))) }},
}

// benchKV opens a fresh bucket on each backend and runs fn on it.
func benchKV(b *testing.B, fn func(b *testing.B, ctx context.Context, kv store.KV)) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			ctx := b.Context()
			kv, err := be.open(b).Open(ctx, store.Bucket{Name: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			fn(b, ctx, kv)
		})
	}
}

// value is a typical small record.
var value = []byte(`{"id":42,"name":"player","level":7,"gold":1234}`)

func BenchmarkGet(b *testing.B) {
	benchKV(b, func(b *testing.B, ctx context.Context, kv store.KV) {
		if _, err := kv.Put(ctx, "user.42", value); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := kv.Get(ctx, "user.42"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkPut(b *testing.B) {
	benchKV(b, func(b *testing.B, ctx context.Context, kv store.KV) {
		keys := make([]string, 1024)
		for i := range keys {
			keys[i] = "user." + strconv.Itoa(i)
		}
		i := 0
		for b.Loop() {
			if _, err := kv.Put(ctx, keys[i%len(keys)], value); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

func BenchmarkUpdate(b *testing.B) {
	benchKV(b, func(b *testing.B, ctx context.Context, kv store.KV) {
		rev, err := kv.Put(ctx, "counter", value)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if rev, err = kv.Update(ctx, "counter", value, rev); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkUpdateHelper measures store.Update, a Get and an Update per call.
func BenchmarkUpdateHelper(b *testing.B) {
	benchKV(b, func(b *testing.B, ctx context.Context, kv store.KV) {
		for b.Loop() {
			if _, err := store.Update(ctx, kv, "counter", func(cur []byte, _ bool) ([]byte, error) {
				return value, nil
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
