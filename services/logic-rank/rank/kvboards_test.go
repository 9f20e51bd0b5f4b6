package rank_test

import (
	"context"
	"errors"
	"strconv"
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

// A period whose dropping another instance claimed stays in memory and is
// tried again: Expire reports ErrExpireInProgress while the claim is fresh
// and takes it over once it is stale (the claimer died), so the records do
// not stay in the bucket until a restart.
func TestKVBoardsExpireTakesOverAStaleClaim(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, b := openKVBoards(t, newOpener(t))
	cfg := &rank.BoardConfig{ID: "daily", Reset: "@daily"}
	old := rank.Scope{Board: cfg, Period: 86400}
	if _, err := b.Submit(ctx, old, rank.Submission{Owner: 1, Score: 5}, time.UnixMilli(1)); err != nil {
		t.Fatal(err)
	}
	claim := "gc.daily.86400"
	stamp := func(at time.Time) []byte { return []byte(strconv.FormatInt(at.UnixMilli(), 10)) }
	if _, err := kv.Put(ctx, claim, stamp(time.Now())); err != nil { // another instance is on it
		t.Fatal(err)
	}
	for _, step := range []struct {
		name    string
		claimAt time.Time
		want    error
		left    int
	}{
		{"fresh claim", time.Now(), rank.ErrExpireInProgress, 1},
		{"claim 11 minutes old", time.Now().Add(-11 * time.Minute), nil, 0},
	} {
		if _, err := kv.Put(ctx, claim, stamp(step.claimAt)); err != nil {
			t.Fatal(err)
		}
		if err := b.Expire(ctx, cfg, 2*86400); !errors.Is(err, step.want) {
			t.Fatalf("%s: Expire: %v, want %v", step.name, err, step.want)
		}
		keys, err := kv.Keys(ctx, "r.")
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != step.left {
			t.Fatalf("%s: records in the bucket %v, want %d", step.name, keys, step.left)
		}
	}
	if keys, _ := kv.Keys(ctx, "gc."); len(keys) != 0 {
		t.Fatalf("claims left: %v", keys)
	}
}

// DeleteBoard while another instance holds a cleanup claim on one of the
// board's periods: once that claim is stale (the claimer died), Maintain
// drops the deleted board's records; it keeps the board on its list until
// then.
func TestDeleteBoardWhileAnotherInstanceDropsIt(t *testing.T) {
	st := newOpener(t)
	ctx := context.Background()
	m := openModule(t, st, rank.Config{Boards: []rank.BoardConfig{{ID: "speed"}}})
	_, p, err := m.Submit(ctx, "speed", rank.Submission{Owner: 1, Score: 5})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := st.Open(ctx, store.Bucket{Name: rank.RecordsBucket})
	if err != nil {
		t.Fatal(err)
	}
	claim := "gc.speed." + strconv.FormatInt(p.Start, 10)
	stamp := func(at time.Time) []byte { return []byte(strconv.FormatInt(at.UnixMilli(), 10)) }
	if _, err := kv.Put(ctx, claim, stamp(time.Now())); err != nil { // another instance's Maintain is on it
		t.Fatal(err)
	}
	if err := m.DeleteBoard(ctx, "speed"); err != nil {
		t.Fatalf("DeleteBoard: %v", err)
	}
	// The claimer dies: its claim goes stale.
	if _, err := kv.Put(ctx, claim, stamp(time.Now().Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := m.Maintain(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if keys, _ := kv.Keys(ctx, "r.speed."); len(keys) != 0 {
		t.Fatalf("records of the deleted board left in the bucket: %v", keys)
	}
}
