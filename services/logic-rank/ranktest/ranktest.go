// Package ranktest is the conformance suite of rank.Boards backends, like
// testing/slogtest: every backend (the in-memory index over store.KV,
// Redis sorted sets, any other) runs Run and must pass it unchanged.
package ranktest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/svcmain/svctest"
	"github.com/iogo-dev/iogo/services/logic-rank/rank"
)

// Open opens one more instance of the backend under test on the storage
// that Setup prepared; instances of one storage see each other's writes,
// possibly after a delay. Open closes the instance when the test ends.
type Open func(t *testing.T) rank.Boards

// Setup prepares fresh storage for one run of the suite and returns how
// to open instances on it.
type Setup func(t *testing.T) Open

var t0 = time.Date(2030, 1, 6, 12, 0, 0, 0, time.UTC)

// at returns t0 plus n milliseconds.
func at(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

func scope(id string, s rank.Sort, op rank.Operator, max int64) rank.Scope {
	return rank.Scope{Board: &rank.BoardConfig{ID: id, Sort: s, Operator: op, MaxEntries: max, Metadata: true}}
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func owners(recs []rank.Record) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		out[i] = r.Owner
	}
	return out
}

// checkRanks fails unless recs are ranked from first, consecutively.
func checkRanks(t *testing.T, recs []rank.Record, first int64) {
	t.Helper()
	for i, r := range recs {
		if r.Rank != first+int64(i) {
			t.Fatalf("record %d (owner %d) has rank %d, want %d", i, r.Owner, r.Rank, first+int64(i))
		}
	}
}

// Run runs the suite.
func Run(t *testing.T, setup Setup) {
	open := setup(t)
	ctx := context.Background()
	b := open(t)
	var boardSeq int
	var mu sync.Mutex
	newID := func(name string) string {
		mu.Lock()
		defer mu.Unlock()
		boardSeq++
		return fmt.Sprintf("%s-%d", name, boardSeq)
	}

	t.Run("operators", func(t *testing.T) {
		type sub struct{ score, subscore int64 }
		tests := []struct {
			name  string
			sort  rank.Sort
			op    rank.Operator
			subs  []sub
			want  sub
			count int64 // submissions that changed the record
		}{
			{"best desc", rank.Descending, rank.Best, []sub{{5, 0}, {3, 9}, {5, 1}, {5, 0}}, sub{5, 1}, 2},
			{"best asc", rank.Ascending, rank.Best, []sub{{5, 0}, {7, 0}, {4, 9}, {4, 3}}, sub{4, 3}, 3},
			{"best negative", rank.Descending, rank.Best, []sub{{-10, 0}, {-20, 0}, {-5, -5}}, sub{-5, -5}, 2},
			{"set", rank.Descending, rank.Set, []sub{{5, 5}, {1, 2}}, sub{1, 2}, 2},
			{"incr", rank.Descending, rank.Incr, []sub{{5, 1}, {-2, 1}, {10, 0}}, sub{13, 2}, 3},
			{"decr", rank.Ascending, rank.Decr, []sub{{5, 1}, {-2, 1}}, sub{-3, -2}, 2},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := scope(newID("op"), tt.sort, tt.op, 0)
				var r rank.Record
				for i, x := range tt.subs {
					r = must[rank.Record](t)(b.Submit(ctx, s, rank.Submission{Owner: 7, Score: x.score, Subscore: x.subscore, Name: fmt.Sprint("n", i)}, at(i)))
				}
				if r.Score != tt.want.score || r.Subscore != tt.want.subscore || r.Submissions != tt.count || r.Rank != 1 {
					t.Fatalf("record %+v, want score %v submissions %d rank 1", r, tt.want, tt.count)
				}
				got, found, err := b.Get(ctx, s, 7)
				if err != nil || !found || got != r {
					t.Fatalf("Get = %+v %v %v, want %+v", got, found, err, r)
				}
			})
		}
	})

	t.Run("overflow", func(t *testing.T) {
		s := scope(newID("ovf"), rank.Descending, rank.Incr, 0)
		must[rank.Record](t)(b.Submit(ctx, s, rank.Submission{Owner: 1, Score: math.MaxInt64 - 1}, at(0)))
		if _, err := b.Submit(ctx, s, rank.Submission{Owner: 1, Score: 2}, at(1)); err == nil {
			t.Fatal("overflow accepted")
		}
		r, _, _ := b.Get(ctx, s, 1)
		if r.Score != math.MaxInt64-1 {
			t.Fatalf("score %d after a failed submit", r.Score)
		}
	})

	t.Run("metadata and name", func(t *testing.T) {
		s := scope(newID("meta"), rank.Descending, rank.Best, 0)
		must[rank.Record](t)(b.Submit(ctx, s, rank.Submission{Owner: 1, Score: 1, Name: "ann", Metadata: `{"car":1}`}, at(0)))
		r := must[rank.Record](t)(b.Submit(ctx, s, rank.Submission{Owner: 1, Score: 2}, at(5)))
		if r.Name != "ann" || r.Metadata != `{"car":1}` || r.Created != at(0).UnixMilli() || r.Updated != at(5).UnixMilli() {
			t.Fatalf("record %+v", r)
		}
		r = must[rank.Record](t)(b.Submit(ctx, s, rank.Submission{Owner: 1, Score: 3, Name: "bob", Metadata: "x"}, at(9)))
		if r.Name != "bob" || r.Metadata != "x" {
			t.Fatalf("record %+v", r)
		}
	})

	t.Run("ties", func(t *testing.T) {
		for _, srt := range []rank.Sort{rank.Descending, rank.Ascending} {
			t.Run(srt.String(), func(t *testing.T) {
				s := scope(newID("tie"), srt, rank.Best, 0)
				// Equal scores and subscores: earlier update first, then the lower owner.
				must[rank.Record](t)(b.Submit(ctx, s, rank.Submission{Owner: 30, Score: 10}, at(2)))
				must[rank.Record](t)(b.Submit(ctx, s, rank.Submission{Owner: 20, Score: 10}, at(1)))
				must[rank.Record](t)(b.Submit(ctx, s, rank.Submission{Owner: 10, Score: 10}, at(2)))
				must[rank.Record](t)(b.Submit(ctx, s, rank.Submission{Owner: 40, Score: 10, Subscore: 1}, at(3)))
				must[rank.Record](t)(b.Submit(ctx, s, rank.Submission{Owner: 50, Score: 11}, at(9)))
				want := []int64{50, 40, 20, 10, 30}
				if srt == rank.Ascending {
					want = []int64{20, 10, 30, 40, 50}
				}
				top := must[[]rank.Record](t)(b.Top(ctx, s, nil, 10))
				if !slices.Equal(owners(top), want) {
					t.Fatalf("order %v, want %v", owners(top), want)
				}
				checkRanks(t, top, 1)
			})
		}
	})

	t.Run("against a sorted slice", func(t *testing.T) {
		for _, srt := range []rank.Sort{rank.Descending, rank.Ascending} {
			t.Run(srt.String(), func(t *testing.T) {
				s := scope(newID("model"), srt, rank.Set, 0)
				r := rand.New(rand.NewPCG(5, uint64(srt)))
				model := map[int64]rank.Record{}
				for i := range 300 {
					owner := r.Int64N(60) - 10 // some negative owner IDs too
					sc := r.Int64N(7) - 3
					if r.IntN(10) == 0 {
						sc = []int64{math.MinInt64, math.MaxInt64, -1 << 53, 1<<53 + 1}[r.IntN(4)]
					}
					rec := must[rank.Record](t)(b.Submit(ctx, s, rank.Submission{Owner: owner, Score: sc, Subscore: r.Int64N(3)}, at(r.IntN(5))))
					if rec.Owner != owner || rec.Score != sc {
						t.Fatalf("submit %d: got %+v", i, rec)
					}
					model[owner] = rec
				}
				want := make([]rank.Record, 0, len(model))
				for _, rec := range model {
					want = append(want, rec)
				}
				slices.SortFunc(want, func(a, b rank.Record) int {
					sa, sb := a.Score, b.Score
					ssa, ssb := a.Subscore, b.Subscore
					if srt == rank.Descending {
						sa, sb, ssa, ssb = sb, sa, ssb, ssa
					}
					for _, d := range [][2]int64{{sa, sb}, {ssa, ssb}, {a.Updated, b.Updated}, {a.Owner, b.Owner}} {
						if d[0] != d[1] {
							if d[0] < d[1] {
								return -1
							}
							return 1
						}
					}
					return 0
				})
				top := must[[]rank.Record](t)(b.Top(ctx, s, nil, 1000))
				if !slices.Equal(owners(top), owners(want)) {
					t.Fatalf("order\n%v\nwant\n%v", owners(top), owners(want))
				}
				checkRanks(t, top, 1)
				for i, w := range want {
					g, found, err := b.Get(ctx, s, w.Owner)
					if err != nil || !found || g.Rank != int64(i+1) || g.Score != w.Score {
						t.Fatalf("Get(%d) = %+v %v %v, want rank %d", w.Owner, g, found, err, i+1)
					}
				}
				if n := must[int64](t)(b.Count(ctx, s)); n != int64(len(want)) {
					t.Fatalf("Count %d, want %d", n, len(want))
				}
			})
		}
	})

	// fill submits n owners 1..n with scores n..1 (owner i ranks i).
	fill := func(t *testing.T, s rank.Scope, n int) {
		for i := 1; i <= n; i++ {
			must[rank.Record](t)(b.Submit(ctx, s, rank.Submission{Owner: int64(i), Score: int64(n - i + 1)}, at(i)))
		}
	}

	t.Run("paging", func(t *testing.T) {
		s := scope(newID("page"), rank.Descending, rank.Best, 0)
		fill(t, s, 25)
		var all []rank.Record
		var after *rank.Record
		for {
			page := must[[]rank.Record](t)(b.Top(ctx, s, after, 10))
			if len(page) == 0 {
				break
			}
			checkRanks(t, page, int64(len(all)+1))
			all = append(all, page...)
			after = &page[len(page)-1]
			if len(all) == 10 {
				// A change before the cursor shifts ranks but not the page's content.
				must[rank.Record](t)(b.Submit(ctx, s, rank.Submission{Owner: 100, Score: 1000}, at(50)))
				all = append([]rank.Record{{Owner: 100}}, all...)
			}
		}
		want := append([]int64{100}, make([]int64, 25)...)
		for i := range 25 {
			want[i+1] = int64(i + 1)
		}
		if !slices.Equal(owners(all), want) {
			t.Fatalf("pages %v, want %v", owners(all), want)
		}
		if got := must[[]rank.Record](t)(b.Top(ctx, s, nil, 0)); len(got) != 0 {
			t.Fatalf("limit 0 returned %d", len(got))
		}
		// A cursor position that no record holds any more still pages on.
		gone := rank.Record{Owner: 999, Score: 13, Updated: at(0).UnixMilli()}
		page := must[[]rank.Record](t)(b.Top(ctx, s, &gone, 2))
		if !slices.Equal(owners(page), []int64{13, 14}) || page[0].Rank != 14 {
			t.Fatalf("after a vanished position: %+v", page)
		}
	})

	t.Run("around", func(t *testing.T) {
		s := scope(newID("around"), rank.Descending, rank.Best, 0)
		fill(t, s, 20)
		tests := []struct {
			name  string
			owner int64
			limit int
			want  []int64
		}{
			{"middle", 10, 5, []int64{8, 9, 10, 11, 12}},
			{"even window", 10, 4, []int64{9, 10, 11, 12}},
			{"first", 1, 3, []int64{1, 2, 3}},
			{"near the start", 2, 5, []int64{1, 2, 3, 4, 5}},
			{"last", 20, 3, []int64{18, 19, 20}},
			{"window wider than the board", 5, 50, nil},
			{"absent owner", 99, 5, []int64{}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got := must[[]rank.Record](t)(b.Around(ctx, s, tt.owner, tt.limit))
				want := tt.want
				if want == nil {
					for i := 1; i <= 20; i++ {
						want = append(want, int64(i))
					}
				}
				if !slices.Equal(owners(got), want) {
					t.Fatalf("got %v, want %v", owners(got), want)
				}
				if len(got) > 0 {
					checkRanks(t, got, got[0].Owner)
				}
			})
		}
	})

	t.Run("owners", func(t *testing.T) {
		s := scope(newID("owners"), rank.Descending, rank.Best, 0)
		fill(t, s, 10)
		got := must[[]rank.Record](t)(b.Owners(ctx, s, []int64{9, 3, 42, 3, 5}))
		if !slices.Equal(owners(got), []int64{3, 5, 9}) || got[0].Rank != 3 || got[2].Rank != 9 {
			t.Fatalf("got %+v", got)
		}
		if got := must[[]rank.Record](t)(b.Owners(ctx, s, nil)); len(got) != 0 {
			t.Fatalf("no owners: %v", got)
		}
	})

	t.Run("empty period", func(t *testing.T) {
		s := scope(newID("empty"), rank.Descending, rank.Best, 0)
		if got := must[[]rank.Record](t)(b.Top(ctx, s, nil, 10)); len(got) != 0 {
			t.Fatal(got)
		}
		if _, found, err := b.Get(ctx, s, 1); found || err != nil {
			t.Fatal(found, err)
		}
		if n := must[int64](t)(b.Count(ctx, s)); n != 0 {
			t.Fatal(n)
		}
		if got := must[[]rank.Record](t)(b.Around(ctx, s, 1, 5)); len(got) != 0 {
			t.Fatal(got)
		}
	})

	t.Run("remove", func(t *testing.T) {
		s := scope(newID("remove"), rank.Descending, rank.Best, 0)
		fill(t, s, 3)
		if err := b.Remove(ctx, s, 2); err != nil {
			t.Fatal(err)
		}
		if err := b.Remove(ctx, s, 77); err != nil {
			t.Fatal("removing a missing record:", err)
		}
		top := must[[]rank.Record](t)(b.Top(ctx, s, nil, 10))
		if !slices.Equal(owners(top), []int64{1, 3}) {
			t.Fatal(owners(top))
		}
		checkRanks(t, top, 1)
	})

	t.Run("max entries", func(t *testing.T) {
		s := scope(newID("max"), rank.Descending, rank.Best, 3)
		fill(t, s, 3) // scores 3, 2, 1
		if _, err := b.Submit(ctx, s, rank.Submission{Owner: 9, Score: 1}, at(100)); err == nil {
			t.Fatal("a score below the last of a full board was taken")
		}
		must[rank.Record](t)(b.Submit(ctx, s, rank.Submission{Owner: 9, Score: 5}, at(101)))
		top := must[[]rank.Record](t)(b.Top(ctx, s, nil, 10))
		if !slices.Equal(owners(top), []int64{9, 1, 2}) {
			t.Fatalf("after eviction %v", owners(top))
		}
		// An owner on the board may always improve.
		if r := must[rank.Record](t)(b.Submit(ctx, s, rank.Submission{Owner: 2, Score: 10}, at(102))); r.Rank != 1 {
			t.Fatalf("rank %d", r.Rank)
		}
		if n := must[int64](t)(b.Count(ctx, s)); n != 3 {
			t.Fatalf("count %d", n)
		}
	})

	t.Run("periods and expire", func(t *testing.T) {
		cfg := &rank.BoardConfig{ID: newID("period"), Reset: "@daily"}
		day := int64(86400)
		scopes := []rank.Scope{{Board: cfg, Period: 10 * day}, {Board: cfg, Period: 11 * day}, {Board: cfg, Period: 12 * day}}
		for i, s := range scopes {
			must[rank.Record](t)(b.Submit(ctx, s, rank.Submission{Owner: 1, Score: int64(i + 1)}, at(i)))
		}
		for i, s := range scopes {
			r, found, err := b.Get(ctx, s, 1)
			if err != nil || !found || r.Score != int64(i+1) {
				t.Fatalf("period %d: %+v %v %v", i, r, found, err)
			}
		}
		if err := b.Expire(ctx, cfg, 11*day); err != nil {
			t.Fatal(err)
		}
		if n := must[int64](t)(b.Count(ctx, scopes[0])); n != 0 {
			t.Fatalf("expired period still has %d records", n)
		}
		for _, s := range scopes[1:] {
			if n := must[int64](t)(b.Count(ctx, s)); n != 1 {
				t.Fatalf("period %d lost its record", s.Period)
			}
		}
		if err := b.Expire(ctx, cfg, math.MaxInt64); err != nil {
			t.Fatal(err)
		}
		for _, s := range scopes {
			if n := must[int64](t)(b.Count(ctx, s)); n != 0 {
				t.Fatalf("period %d kept %d records", s.Period, n)
			}
		}
	})

	t.Run("instances", func(t *testing.T) {
		b2 := open(t)
		s := scope(newID("inst"), rank.Descending, rank.Best, 0)
		must[rank.Record](t)(b.Submit(ctx, s, rank.Submission{Owner: 1, Score: 10}, at(0)))
		must[rank.Record](t)(b2.Submit(ctx, s, rank.Submission{Owner: 2, Score: 20}, at(1)))
		for _, x := range []rank.Boards{b, b2} {
			svctest.Eventually(t, "both instances see both records", func() error {
				top, err := x.Top(ctx, s, nil, 10)
				if err != nil {
					return err
				}
				if !slices.Equal(owners(top), []int64{2, 1}) {
					return fmt.Errorf("order %v", owners(top))
				}
				return nil
			})
		}
	})

	t.Run("concurrent incr", func(t *testing.T) {
		b2 := open(t)
		s := scope(newID("incr"), rank.Descending, rank.Incr, 0)
		const per = 25
		var wg sync.WaitGroup
		errc := make(chan error, 4)
		for i, x := range []rank.Boards{b, b2, b, b2} {
			wg.Go(func() {
				for j := range per {
					if _, err := x.Submit(ctx, s, rank.Submission{Owner: 1, Score: 1, Subscore: 2}, at(i*per+j)); err != nil {
						errc <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		for _, x := range []rank.Boards{b, b2} {
			svctest.Eventually(t, "every increment counted", func() error {
				r, _, err := x.Get(ctx, s, 1)
				if err != nil {
					return err
				}
				if r.Score != 4*per || r.Subscore != 8*per || r.Submissions != 4*per {
					return fmt.Errorf("record %+v", r)
				}
				return nil
			})
		}
	})

	t.Run("concurrent best", func(t *testing.T) {
		b2 := open(t)
		s := scope(newID("best"), rank.Descending, rank.Best, 0)
		var wg sync.WaitGroup
		for i, x := range []rank.Boards{b, b2} {
			wg.Go(func() {
				for j := range 40 {
					if _, err := x.Submit(ctx, s, rank.Submission{Owner: 1, Score: int64(j*2 + i)}, at(j)); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		for _, x := range []rank.Boards{b, b2} {
			svctest.Eventually(t, "the best score wins", func() error {
				r, _, err := x.Get(ctx, s, 1)
				if err != nil {
					return err
				}
				if r.Score != 79 {
					return fmt.Errorf("score %d, want 79", r.Score)
				}
				return nil
			})
		}
	})
}
