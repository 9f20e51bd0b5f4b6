package rank

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/services/logic-rank/internal/ostree"
)

var benchSizes = []int{10_000, 100_000, 1_000_000}

// benchIndex returns the in-memory index of one board period with n
// owners, as the KV backend holds it.
func benchIndex(n int) *index {
	x := &index{sort: Descending, tree: ostree.New[*entry](), owners: make(map[int64]*entry, n)}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		x.put(Record{Owner: int64(i), Score: r.Int64N(1 << 30), Updated: int64(i)}, 1)
	}
	return x
}

// BenchmarkIndexSubmit is the in-memory part of a submit on the KV
// backend: a random owner's record gets a new score and its rank (the
// storage write, a JetStream round trip, is not included).
func BenchmarkIndexSubmit(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			x := benchIndex(n)
			r := rand.New(rand.NewPCG(3, 4))
			now := time.Now()
			board := &BoardConfig{ID: "b", Operator: Set}
			rev := uint64(2)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				owner := r.Int64N(int64(n))
				cur := x.owners[owner].rec
				next, _, _ := apply(board, &cur, Submission{Owner: owner, Score: r.Int64N(1 << 30)}, now)
				rev++
				if x.put(next, rev) == 0 {
					b.Fatal("no rank")
				}
			}
		})
	}
}

// BenchmarkIndexRank is a rank query (my rank) on the KV backend.
func BenchmarkIndexRank(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			x := benchIndex(n)
			bb := &kvBoards{scopes: map[scopeID]*index{{"b", 0}: x}}
			s := Scope{Board: &BoardConfig{ID: "b"}}
			r := rand.New(rand.NewPCG(3, 4))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, ok, _ := bb.Get(b.Context(), s, r.Int64N(int64(n))); !ok {
					b.Fatal("missing")
				}
			}
		})
	}
}

// BenchmarkIndexRankParallel is BenchmarkIndexRank from every core:
// readers share the index's read lock.
func BenchmarkIndexRankParallel(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			x := benchIndex(n)
			bb := &kvBoards{scopes: map[scopeID]*index{{"b", 0}: x}}
			s := Scope{Board: &BoardConfig{ID: "b"}}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				r := rand.New(rand.NewPCG(rand.Uint64(), 4))
				for pb.Next() {
					if _, ok, _ := bb.Get(b.Context(), s, r.Int64N(int64(n))); !ok {
						b.Error("missing")
						return
					}
				}
			})
		})
	}
}

// BenchmarkIndexTop reads the first page of 10 records.
func BenchmarkIndexTop(b *testing.B) {
	x := benchIndex(100_000)
	bb := &kvBoards{scopes: map[scopeID]*index{{"b", 0}: x}}
	s := Scope{Board: &BoardConfig{ID: "b"}}
	b.ReportAllocs()
	for b.Loop() {
		if recs, _ := bb.Top(b.Context(), s, nil, 10); len(recs) != 10 {
			b.Fatal(len(recs))
		}
	}
}
