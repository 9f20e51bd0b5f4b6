package rank_test

import (
	"context"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/broker/brokertest"
	"github.com/iogo-dev/iogo/pkg/store"
	"github.com/iogo-dev/iogo/pkg/store/redistest"
	"github.com/iogo-dev/iogo/pkg/svcmain/svctest"
	"github.com/iogo-dev/iogo/services/logic-rank/rank"
	"github.com/iogo-dev/iogo/services/logic-rank/ranktest"
	"github.com/redis/go-redis/v9"
)

// newOpener returns a JetStream store on a broker of the test's own;
// every call opens another connection, like another instance.
func newOpener(t *testing.T) store.Opener {
	return svctest.JetStream(t, brokertest.Start(t, broker.Config{}))
}

// kvInstances opens KV-backend instances, each on its own store opener.
func kvInstances(newStore func(t *testing.T) store.Opener) ranktest.Open {
	return func(t *testing.T) rank.Boards {
		_, b := openKVBoards(t, newStore(t))
		return b
	}
}

// openKVBoards opens the records bucket on st and a KV backend on it,
// closed when the test ends.
func openKVBoards(t *testing.T, st store.Opener) (store.KV, rank.Boards) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := st.Open(ctx, store.Bucket{Name: rank.RecordsBucket})
	if err != nil {
		t.Fatal(err)
	}
	b, err := rank.NewKVBoards(ctx, kv, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return kv, b
}

// The default backend on the brokers' JetStream.
func TestKVBoardsJetStream(t *testing.T) {
	ranktest.Run(t, func(t *testing.T) ranktest.Open {
		b := brokertest.Start(t, broker.Config{})
		return kvInstances(func(t *testing.T) store.Opener { return svctest.JetStream(t, b) })
	})
}

// The default backend with store.KV on Redis (iogo's -redis).
func TestKVBoardsRedisStore(t *testing.T) {
	ranktest.Run(t, func(t *testing.T) ranktest.Open {
		addr := redistest.Start(t)
		return kvInstances(func(t *testing.T) store.Opener {
			rdb := redis.NewClient(&redis.Options{Addr: addr})
			t.Cleanup(func() { _ = rdb.Close() })
			return store.NewRedis(rdb)
		})
	})
}

// The Redis sorted-set backend.
func TestRedisBoards(t *testing.T) {
	ranktest.Run(t, func(t *testing.T) ranktest.Open {
		addr := redistest.Start(t)
		return func(t *testing.T) rank.Boards {
			rdb := redis.NewClient(&redis.Options{Addr: addr})
			t.Cleanup(func() { _ = rdb.Close() })
			b := rank.NewRedisBoards(rdb, "")
			t.Cleanup(func() { _ = b.Close() })
			return b
		}
	})
}
