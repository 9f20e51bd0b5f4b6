package rank_test

import (
	"os"
	"testing"

	"github.com/iogo-dev/iogo/services/logic-rank/rank"
	"github.com/iogo-dev/iogo/services/logic-rank/ranktest"
	"github.com/redis/go-redis/v9"
)

func TestTmpRedis(t *testing.T) {
	addr := os.Getenv("TMP_REDIS")
	if addr == "" {
		t.Skip()
	}
	ranktest.Run(t, func(t *testing.T) ranktest.Open {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		rdb.FlushAll(t.Context())
		t.Cleanup(func() { rdb.Close() })
		return func(t *testing.T) rank.Boards { return rank.NewRedisBoards(rdb, "") }
	})
}
