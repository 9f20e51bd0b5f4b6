package store_test

import (
	"testing"

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
