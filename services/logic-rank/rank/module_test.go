package rank_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/store"
	"github.com/iogo-dev/iogo/pkg/svcmain/svctest"
	"github.com/iogo-dev/iogo/services/logic-rank/rank"
)

// clock is a settable clock for the module.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// openModule opens a module on st until the test ends.
func openModule(t *testing.T, st store.Opener, cfg rank.Config) *rank.Module {
	t.Helper()
	m, err := rank.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Open(ctx, nil, st); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	return m
}

func recOwners(recs []rank.Record) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		out[i] = r.Owner
	}
	return out
}

func TestModuleInstances(t *testing.T) {
	st := newOpener(t)
	ctx := context.Background()
	a := openModule(t, st, rank.Config{Boards: []rank.BoardConfig{{ID: "global"}}})
	b := openModule(t, st, rank.Config{})

	// A board created on one instance reaches the other.
	if err := a.CreateBoard(ctx, rank.BoardConfig{ID: "speed", Sort: rank.Ascending}); err != nil {
		t.Fatal(err)
	}
	svctest.Eventually(t, "board on b", func() error {
		_, err := b.Board(ctx, "speed")
		return err
	})
	if _, err := b.Board(ctx, "global"); err != nil {
		t.Fatal(err)
	}
	// A submit on a is ranked on b, and the other way round.
	if _, _, err := a.Submit(ctx, "speed", rank.Submission{Owner: 1, Score: 50}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Submit(ctx, "speed", rank.Submission{Owner: 2, Score: 40}); err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]*rank.Module{"a": a, "b": b} {
		svctest.Eventually(t, "ranks on "+name, func() error {
			pg, err := m.Rank(ctx, "speed", false, 1)
			if err != nil {
				return err
			}
			if len(pg.Records) != 1 || pg.Records[0].Rank != 2 || pg.Total != 2 {
				return fmt.Errorf("page %+v", pg)
			}
			return nil
		})
	}
	// Deleting a board removes it everywhere.
	if err := b.DeleteBoard(ctx, "speed"); err != nil {
		t.Fatal(err)
	}
	svctest.Eventually(t, "board gone from a", func() error {
		if _, err := a.Board(ctx, "speed"); !errors.Is(err, rank.ErrBoardNotFound) {
			return fmt.Errorf("err %v", err)
		}
		return nil
	})
}

func TestModuleErrors(t *testing.T) {
	ctx := context.Background()
	m := openModule(t, newOpener(t), rank.Config{MetadataLimit: 8, Boards: []rank.BoardConfig{
		{ID: "plain"}, {ID: "meta", Metadata: true}, {ID: "daily", Reset: "@daily"},
	}})
	tests := []struct {
		name string
		run  func() error
		want error
	}{
		{"unknown board", func() error { _, _, err := m.Submit(ctx, "nope", rank.Submission{Owner: 1}); return err }, rank.ErrBoardNotFound},
		{"metadata denied", func() error {
			_, _, err := m.Submit(ctx, "plain", rank.Submission{Owner: 1, Metadata: "x"})
			return err
		}, rank.ErrMetadataDenied},
		{"metadata too long", func() error {
			_, _, err := m.Submit(ctx, "meta", rank.Submission{Owner: 1, Metadata: "123456789"})
			return err
		}, rank.ErrMetadataSize},
		{"long name", func() error {
			_, _, err := m.Submit(ctx, "plain", rank.Submission{Owner: 1, Name: string(make([]byte, 65))})
			return err
		}, errs.ErrValidation},
		{"conflicting board", func() error { return m.CreateBoard(ctx, rank.BoardConfig{ID: "plain", Sort: rank.Ascending}) }, rank.ErrBoardConflict},
		{"same board again", func() error { return m.CreateBoard(ctx, rank.BoardConfig{ID: "plain"}) }, nil},
		{"bad board", func() error { return m.CreateBoard(ctx, rank.BoardConfig{ID: "a b"}) }, rank.ErrBadBoard},
		{"no previous", func() error { _, err := m.Top(ctx, "plain", true, "", 10); return err }, rank.ErrNoPrevious},
		{"bad cursor", func() error { _, err := m.Top(ctx, "plain", false, "xyz", 10); return err }, rank.ErrCursor},
		{"too many owners", func() error { _, err := m.Owners(ctx, "plain", false, make([]int64, 101)); return err }, errs.ErrValidation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
}

func TestModulePeriods(t *testing.T) {
	ctx := context.Background()
	day1 := time.Date(2030, 3, 1, 10, 0, 0, 0, time.UTC)
	clk := &clock{t: day1}
	st := newOpener(t)
	m := openModule(t, st, rank.Config{Clock: clk.Now, Boards: []rank.BoardConfig{{ID: "daily", Reset: "0 0 * * *"}}})
	m2 := openModule(t, st, rank.Config{Clock: clk.Now})

	for i := int64(1); i <= 3; i++ {
		if _, _, err := m.Submit(ctx, "daily", rank.Submission{Owner: i, Score: i * 10}); err != nil {
			t.Fatal(err)
		}
	}
	info, err := m.Board(ctx, "daily")
	if err != nil {
		t.Fatal(err)
	}
	midnight := time.Date(2030, 3, 1, 0, 0, 0, 0, time.UTC)
	if info.Period.Start != midnight.Unix() || info.Period.NextReset != midnight.AddDate(0, 0, 1).Unix() ||
		info.Period.PreviousStart != midnight.AddDate(0, 0, -1).Unix() || info.Total != 3 {
		t.Fatalf("day 1 board %+v", info)
	}
	// A cursor of day 1 is refused on day 2.
	pg, err := m.Top(ctx, "daily", false, "", 2)
	if err != nil || pg.Next == "" {
		t.Fatalf("page %+v %v", pg, err)
	}
	day1Cursor := pg.Next

	// Day 2: the board is empty; day 1 is the previous period.
	clk.Set(day1.AddDate(0, 0, 1))
	if _, _, err := m.Submit(ctx, "daily", rank.Submission{Owner: 9, Score: 1}); err != nil {
		t.Fatal(err)
	}
	cur, err := m.Top(ctx, "daily", false, "", 10)
	if err != nil || !slices.Equal(recOwners(cur.Records), []int64{9}) || cur.Period.Start != midnight.AddDate(0, 0, 1).Unix() {
		t.Fatalf("day 2 current %+v %v", cur, err)
	}
	prev, err := m.Top(ctx, "daily", true, "", 10)
	if err != nil || !slices.Equal(recOwners(prev.Records), []int64{3, 2, 1}) ||
		prev.Period.Start != midnight.Unix() || prev.Period.NextReset != midnight.AddDate(0, 0, 1).Unix() {
		t.Fatalf("day 2 previous %+v %v", prev, err)
	}
	if _, err := m.Top(ctx, "daily", false, day1Cursor, 10); !errors.Is(err, rank.ErrCursor) {
		t.Fatalf("day-1 cursor on day 2: %v", err)
	}
	if pg, err := m.Top(ctx, "daily", true, day1Cursor, 10); err != nil || !slices.Equal(recOwners(pg.Records), []int64{1}) {
		t.Fatalf("day-1 cursor on the previous period: %+v %v", pg, err)
	}

	// Day 3: day 1 is older than the previous period; maintenance drops it
	// from storage and from every instance.
	clk.Set(day1.AddDate(0, 0, 2))
	if err := m.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	day1Scope := rank.Scope{Board: &rank.BoardConfig{ID: "daily", Reset: "0 0 * * *"}, Period: midnight.Unix()}
	for name, x := range map[string]*rank.Module{"m": m, "m2": m2} {
		svctest.Eventually(t, "day 1 dropped on "+name, func() error {
			n, err := x.Backend().Count(ctx, day1Scope)
			if err != nil || n != 0 {
				return fmt.Errorf("day 1 still has %d records (%v)", n, err)
			}
			return nil
		})
	}
	prev, err = m.Top(ctx, "daily", true, "", 10)
	if err != nil || !slices.Equal(recOwners(prev.Records), []int64{9}) {
		t.Fatalf("day 3 previous %+v %v", prev, err)
	}
}

// endingWatch is a store.Opener whose first watch of the boards bucket
// the test ends (as a store does when its connection closes) by closing
// stop.
type endingWatch struct {
	store.Opener
	stop    chan struct{}
	watches sync.Mutex
	ended   bool
}

func (o *endingWatch) Open(ctx context.Context, b store.Bucket) (store.KV, error) {
	kv, err := o.Opener.Open(ctx, b)
	if err != nil || b.Name != rank.BoardsBucket {
		return kv, err
	}
	return endingKV{KV: kv, o: o}, nil
}

type endingKV struct {
	store.KV
	o *endingWatch
}

func (k endingKV) Watch(ctx context.Context, prefix string) (<-chan *store.Change, error) {
	k.o.watches.Lock()
	first := !k.o.ended
	k.o.ended = true
	k.o.watches.Unlock()
	if !first {
		return k.KV.Watch(ctx, prefix)
	}
	wctx, cancel := context.WithCancel(ctx)
	in, err := k.KV.Watch(wctx, prefix)
	if err != nil {
		cancel()
		return nil, err
	}
	out := make(chan *store.Change)
	go func() {
		defer close(out)
		defer cancel()
		for {
			select {
			case c, ok := <-in:
				if !ok {
					return
				}
				select {
				case out <- c:
				case <-k.o.stop:
					return
				}
			case <-k.o.stop:
				return
			}
		}
	}()
	return out, nil
}

// A board watch that the store ends is opened again: boards created and
// deleted afterwards on other instances still reach this one.
func TestModuleBoardWatchReopens(t *testing.T) {
	st := newOpener(t)
	ctx := context.Background()
	ending := &endingWatch{Opener: st, stop: make(chan struct{})}
	a := openModule(t, ending, rank.Config{Boards: []rank.BoardConfig{{ID: "old"}}})
	b := openModule(t, st, rank.Config{})
	close(ending.stop)
	if err := b.CreateBoard(ctx, rank.BoardConfig{ID: "late"}); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteBoard(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	svctest.Eventually(t, "boards on a", func() error {
		if ids := a.BoardIDs(); !slices.Equal(ids, []string{"late"}) {
			return fmt.Errorf("boards %v", ids)
		}
		return nil
	})
}
