package rank_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/store"
	"github.com/iogo-dev/iogo/services/logic-rank/rank"
)

// failingDeletes is a store.KV on which the next n deletes of record
// keys fail, n being the value of failures.
type failingDeletes struct {
	store.KV
	failures atomic.Int32
}

var errInjected = errors.New("injected delete failure")

func (f *failingDeletes) Delete(ctx context.Context, key string) error {
	if strings.HasPrefix(key, "r.") && f.failures.Add(-1) >= 0 {
		return errInjected
	}
	return f.KV.Delete(ctx, key)
}

// An Expire that fails part-way is done by the next one: the period's
// records do not stay in the bucket for good.
func TestKVBoardsExpireRetries(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := newOpener(t).Open(ctx, store.Bucket{Name: rank.RecordsBucket})
	if err != nil {
		t.Fatal(err)
	}
	fk := &failingDeletes{KV: kv}
	b, err := rank.NewKVBoards(ctx, fk, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	cfg := &rank.BoardConfig{ID: "daily", Reset: "@daily"}
	old := rank.Scope{Board: cfg, Period: 86400}
	for owner := int64(1); owner <= 3; owner++ {
		if _, err := b.Submit(ctx, old, rank.Submission{Owner: owner, Score: owner}, time.UnixMilli(owner)); err != nil {
			t.Fatal(err)
		}
	}
	fk.failures.Store(1)
	if err := b.Expire(ctx, cfg, 2*86400); !errors.Is(err, errInjected) {
		t.Fatalf("Expire with a failing delete: %v", err)
	}
	if err := b.Expire(ctx, cfg, 2*86400); err != nil {
		t.Fatalf("Expire again: %v", err)
	}
	keys, err := kv.Keys(ctx, "r.")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Fatalf("records left in the bucket after Expire: %v", keys)
	}
}
