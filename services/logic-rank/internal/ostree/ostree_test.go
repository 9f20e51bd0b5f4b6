package ostree

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func cmpKey(a, b Key) int {
	switch {
	case a.Less(b):
		return -1
	case b.Less(a):
		return 1
	}
	return 0
}

// model is the reference: a sorted slice of keys. The value of a key is
// val(k).
type model []Key

func (m model) find(k Key) (int, bool) { return slices.BinarySearchFunc(m, k, cmpKey) }

// val is the value the tests store with k: never zero, so a value slot
// left set after its key moved out shows up.
func val(k Key) int64 { return k.D ^ math.MinInt64 }

// check compares every observable of t with m and checks the structure.
func check(tb testing.TB, t *Tree[int64], m model) {
	tb.Helper()
	if t.Len() != len(m) {
		tb.Fatalf("Len = %d, want %d", t.Len(), len(m))
	}
	i := 0
	for it := t.At(1); it.Valid(); it.Next() {
		if i >= len(m) || it.Key() != m[i] || it.Rank() != i+1 || it.Value() != val(m[i]) {
			tb.Fatalf("walk %d: %v rank %d val %d, want %v", i, it.Key(), it.Rank(), it.Value(), m[min(i, len(m)-1)])
		}
		i++
	}
	if i != len(m) {
		tb.Fatalf("walk saw %d keys, want %d", i, len(m))
	}
	for _, r := range []int{-1, 0, len(m) + 1, len(m) + 2} {
		if t.At(r).Valid() {
			tb.Fatalf("At(%d) valid with %d keys", r, len(m))
		}
	}
	if t.root.n < 1 || !t.root.leafKids && t.root.n < 2 {
		tb.Fatalf("root has %d children (leaf children %v)", t.root.n, t.root.leafKids)
	}
	var leaves []*leaf[int64]
	n := checkNode(tb, t.root, true, nil, nil, &leaves)
	if n != len(m) {
		tb.Fatalf("tree holds %d keys, want %d", n, len(m))
	}
	// The leaf chain is the leaves in order, every one of them reached.
	l := leaves[0]
	for j, want := range leaves {
		if l != want {
			tb.Fatalf("leaf chain breaks at leaf %d", j)
		}
		l = l.next
	}
	if l != nil {
		tb.Fatal("leaf chain runs past the last leaf")
	}
}

// checkNode checks the subtree of x, whose keys must lie in [lo, hi) (nil:
// unbounded), appends its leaves and returns its key count.
func checkNode(tb testing.TB, x *inner[int64], root bool, lo, hi *Key, leaves *[]*leaf[int64]) int {
	tb.Helper()
	if !root && x.n < innerMin {
		tb.Fatalf("inner node has %d children, min %d", x.n, innerMin)
	}
	if !root && lo != nil && x.keys.at(0) != *lo {
		tb.Fatalf("inner node's keys[0] %v is not its lower bound %v", x.keys.at(0), *lo)
	}
	total := 0
	for i := range x.n {
		clo, chi := lo, hi
		if i > 0 {
			k := x.keys.at(i)
			clo = &k
		}
		if i+1 < x.n {
			k := x.keys.at(i + 1)
			chi = &k
		}
		var n int
		if x.leafKids {
			l := x.leaves[i]
			if l == nil || x.kids[i] != nil {
				tb.Fatalf("child %d: leaf %p kid %p", i, l, x.kids[i])
			}
			if !(root && x.n == 1) && l.n < leafMin {
				tb.Fatalf("leaf has %d keys, min %d", l.n, leafMin)
			}
			var used [leafCap]bool // ord is a permutation of the slots
			for j, s := range l.ord {
				if used[s] {
					tb.Fatalf("slot %d appears twice in ord", s)
				}
				used[s] = true
				if j >= l.n && l.vals[s] != 0 {
					tb.Fatal("a free slot's value is set")
				}
			}
			for j := range l.n {
				k := l.key(j)
				if clo != nil && k.Less(*clo) || chi != nil && !k.Less(*chi) || j > 0 && !l.key(j-1).Less(k) {
					tb.Fatalf("leaf key %v out of order or bounds", k)
				}
			}
			*leaves = append(*leaves, l)
			n = l.n
		} else {
			if x.kids[i] == nil || x.leaves[i] != nil {
				tb.Fatalf("child %d: leaf %p kid %p", i, x.leaves[i], x.kids[i])
			}
			n = checkNode(tb, x.kids[i], false, clo, chi, leaves)
		}
		if x.counts[i] != n {
			tb.Fatalf("count of child %d is %d, holds %d", i, x.counts[i], n)
		}
		total += n
	}
	for i := x.n; i < innerCap; i++ {
		if x.kids[i] != nil || x.leaves[i] != nil {
			tb.Fatalf("child slot %d past the end is set", i)
		}
	}
	return total
}

// apply runs one random operation on t and m and checks its result.
func apply(tb testing.TB, r *rand.Rand, t *Tree[int64], m *model, randKey func() Key) {
	tb.Helper()
	present := func() Key {
		if len(*m) > 0 && r.IntN(2) == 0 {
			return (*m)[r.IntN(len(*m))]
		}
		return randKey()
	}
	switch r.IntN(10) {
	case 0, 1, 2, 3: // insert, or replace the value of a present key
		k := present()
		i, found := m.find(k)
		if got := t.Insert(k, val(k)); got != i+1 {
			tb.Fatalf("Insert(%v) rank %d, want %d", k, got, i+1)
		}
		if !found {
			*m = slices.Insert(*m, i, k)
		}
	case 4: // a score change: Move (half the time to a nearby key), or Delete and Insert
		if len(*m) == 0 {
			break
		}
		i := r.IntN(len(*m))
		old := (*m)[i]
		k := randKey()
		if r.IntN(2) == 0 {
			k = old
			k.A += r.Int64N(5) - 2 // a few places up or down: the in-leaf path
			k.D = r.Int64N(1 << 40)
		}
		move := r.IntN(3) > 0
		if !move && !t.Delete(old) {
			tb.Fatalf("Delete(%v) of a present key failed", old)
		}
		*m = slices.Delete(*m, i, i+1)
		i, found := m.find(k)
		var got int
		if move {
			got = t.Move(old, k, val(k))
		} else {
			got = t.Insert(k, val(k))
		}
		if got != i+1 {
			tb.Fatalf("Move/Insert(%v → %v, move %v) rank %d, want %d", old, k, move, got, i+1)
		}
		if !found {
			*m = slices.Insert(*m, i, k)
		}
	case 5, 6: // delete, half the time a present key
		k := present()
		i, found := m.find(k)
		if got := t.Delete(k); got != found {
			tb.Fatalf("Delete(%v) = %v, want %v", k, got, found)
		}
		if found {
			*m = slices.Delete(*m, i, i+1)
		}
	case 7: // rank and get
		k := present()
		i, found := m.find(k)
		want := 0
		if found {
			want = i + 1
		}
		if got := t.Rank(k); got != want {
			tb.Fatalf("Rank(%v) = %d, want %d", k, got, want)
		}
		if v, ok := t.Get(k); ok != found || (found && v != val(k)) {
			tb.Fatalf("Get(%v) = %d %v", k, v, ok)
		}
	case 8: // select, in and out of range
		rank := r.IntN(len(*m)+4) - 1
		it := t.At(rank)
		if rank < 1 || rank > len(*m) {
			if it.Valid() {
				tb.Fatalf("At(%d) valid with %d keys", rank, len(*m))
			}
			break
		}
		if !it.Valid() || it.Key() != (*m)[rank-1] || it.Rank() != rank {
			tb.Fatalf("At(%d) wrong", rank)
		}
	case 9: // seek, then a short scan
		k := present()
		i, found := m.find(k)
		if found {
			i++
		}
		it := t.After(k)
		for n := 0; n < 70; n++ {
			if i == len(*m) {
				if it.Valid() {
					tb.Fatalf("After(%v) valid past the end", k)
				}
				break
			}
			if !it.Valid() || it.Key() != (*m)[i] || it.Rank() != i+1 {
				tb.Fatalf("After(%v)+%d wrong, want %v rank %d", k, n, (*m)[i], i+1)
			}
			it.Next()
			i++
		}
	}
}

func TestAgainstSortedSlice(t *testing.T) {
	tests := []struct {
		name   string
		ops    int
		domain int64 // small domains make many duplicates and deletes of present keys
	}{
		{"tiny domain", 3000, 8},
		{"small domain", 20000, 300},
		{"wide domain", 60000, 1 << 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(tt.domain)))
			tr := New[int64]()
			var m model
			randKey := func() Key {
				// Few distinct A and B values make the later fields decide.
				return Key{A: r.Int64N(tt.domain) - tt.domain/2, B: r.Int64N(3), C: r.Int64N(3) - 1, D: r.Int64N(tt.domain)}
			}
			for op := range tt.ops {
				apply(t, r, tr, &m, randKey)
				if op%211 == 0 {
					check(t, tr, m)
				}
			}
			check(t, tr, m)
		})
	}
}

// TestGrowAndDrain builds trees three and four levels deep and deletes
// every key, in several orders, checking the structure on the way: splits,
// merges and redistributions at every level.
func TestGrowAndDrain(t *testing.T) {
	const n = 150_000
	tests := []struct {
		name  string
		order func(keys []Key, r *rand.Rand) // insert order; the drain reverses it
	}{
		{"ascending", func([]Key, *rand.Rand) {}},
		{"descending", func(k []Key, _ *rand.Rand) { slices.Reverse(k) }},
		{"random", func(k []Key, r *rand.Rand) { r.Shuffle(len(k), func(i, j int) { k[i], k[j] = k[j], k[i] }) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(5, 6))
			keys := make([]Key, n)
			for i := range keys {
				keys[i] = Key{A: int64(i / 3), D: int64(i)}
			}
			tt.order(keys, r)
			tr := New[int64]()
			var m model
			for i, k := range keys {
				tr.Insert(k, val(k))
				if i%(n/7) == 0 {
					m = sortedPrefix(keys[:i+1])
					check(t, tr, m)
				}
			}
			m = sortedPrefix(keys)
			check(t, tr, m)
			drain := slices.Clone(keys)
			r.Shuffle(len(drain), func(i, j int) { drain[i], drain[j] = drain[j], drain[i] })
			if tt.name != "random" {
				drain = keys // from one end
			}
			for i, k := range drain {
				if !tr.Delete(k) {
					t.Fatalf("Delete(%v) of a present key failed", k)
				}
				if i%(n/9) == 0 || len(drain)-i < 200 && i%37 == 0 {
					check(t, tr, sortedPrefix(drain[i+1:]))
				}
			}
			check(t, tr, nil)
		})
	}
}

func sortedPrefix(k []Key) model {
	m := slices.Clone(k)
	slices.SortFunc(m, cmpKey)
	return m
}

func TestEdgeCases(t *testing.T) {
	k1, k2, k3 := Key{A: -5}, Key{A: 1, D: -1}, Key{A: 1, D: 0}
	tests := []struct {
		name   string
		insert []Key
		delete []Key // after the inserts; each must be present once
		absent []Key // Delete, Rank and Get must not find these
		want   model
	}{
		{name: "empty", absent: []Key{{}, k1}},
		{name: "one", insert: []Key{k2}, absent: []Key{k1, k3}, want: model{k2}},
		{name: "duplicates keep one entry", insert: []Key{k2, k1, k2, k2, k1}, absent: []Key{k3}, want: model{k1, k2}},
		{name: "fields break ties", insert: []Key{k3, k2, k1}, want: model{k1, k2, k3}},
		{name: "extreme keys", insert: []Key{{A: math.MaxInt64, D: math.MaxInt64}, {A: math.MinInt64, B: math.MinInt64}}, absent: []Key{{}},
			want: model{{A: math.MinInt64, B: math.MinInt64}, {A: math.MaxInt64, D: math.MaxInt64}}},
		{name: "delete to empty", insert: []Key{k1, k2, k3}, delete: []Key{k2, k3, k1}, absent: []Key{k1, k2, k3}},
		{name: "delete all but one", insert: []Key{k1, k2, k3}, delete: []Key{k1, k3}, absent: []Key{k1, k3}, want: model{k2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := New[int64]()
			for _, k := range tt.insert {
				tr.Insert(k, val(k))
			}
			for _, k := range tt.delete {
				if !tr.Delete(k) {
					t.Fatalf("Delete(%v) = false", k)
				}
			}
			for _, k := range tt.absent {
				if tr.Rank(k) != 0 {
					t.Fatalf("Rank(%v) of an absent key = %d", k, tr.Rank(k))
				}
				if _, ok := tr.Get(k); ok {
					t.Fatalf("Get(%v) found an absent key", k)
				}
				if tr.Delete(k) {
					t.Fatalf("Delete(%v) of an absent key = true", k)
				}
			}
			check(t, tr, tt.want)
			for i, k := range tt.want {
				if r := tr.Insert(k, 42); r != i+1 || tr.Len() != len(tt.want) {
					t.Fatalf("Insert(%v) again: rank %d len %d, want rank %d len %d", k, r, tr.Len(), i+1, len(tt.want))
				}
				if v, _ := tr.Get(k); v != 42 {
					t.Fatalf("Insert(%v) again kept value %d", k, v)
				}
				if it := tr.After(k); i+1 < len(tt.want) && (!it.Valid() || it.Key() != tt.want[i+1]) || i+1 == len(tt.want) && it.Valid() {
					t.Fatalf("After(%v) wrong", k)
				}
			}
			if it := tr.After(Key{A: math.MinInt64, B: math.MinInt64, C: math.MinInt64, D: math.MinInt64}); it.Valid() != (len(tt.want) > 0 && tt.want[0] != Key{A: math.MinInt64, B: math.MinInt64, C: math.MinInt64, D: math.MinInt64}) {
				t.Fatalf("After(min) valid = %v", it.Valid())
			}
		})
	}
}

func TestKeyOrder(t *testing.T) {
	tests := []struct {
		name string
		a, b Key
		less bool
	}{
		{"A decides", Key{A: -1, B: 9}, Key{A: 0}, true},
		{"B decides", Key{A: 1, B: 1}, Key{A: 1, B: 2}, true},
		{"C decides", Key{C: 5}, Key{C: 4}, false},
		{"D decides", Key{D: -9}, Key{D: 9}, true},
		{"equal", Key{1, 2, 3, 4}, Key{1, 2, 3, 4}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Less(tt.b); got != tt.less {
				t.Fatalf("Less = %v", got)
			}
		})
	}
}

// fill returns a tree of n random keys and the keys.
func fill(n int) (*Tree[int64], []Key) {
	r := rand.New(rand.NewPCG(uint64(n), 3))
	t := New[int64]()
	keys := make([]Key, n)
	for i := range keys {
		keys[i] = Key{A: r.Int64N(1 << 40), D: int64(i)}
		t.Insert(keys[i], int64(i))
	}
	return t, keys
}

var sizes = []int{10_000, 100_000, 1_000_000}

// BenchmarkUpdate moves a random entry to a new random score (a delete
// and an insert: what a submit does to the index).
func BenchmarkUpdate(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			t, keys := fill(n)
			r := rand.New(rand.NewPCG(9, 9))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				i := r.IntN(n)
				t.Delete(keys[i])
				keys[i].A = r.Int64N(1 << 40)
				t.Insert(keys[i], int64(i))
			}
		})
	}
}

// BenchmarkMove changes random entries' scores with Move: to a random
// score (far), and by a little (near: a few places, the in-leaf path).
func BenchmarkMove(b *testing.B) {
	for _, far := range []bool{true, false} {
		for _, n := range sizes {
			name := fmt.Sprintf("near/%d", n)
			if far {
				name = fmt.Sprintf("far/%d", n)
			}
			b.Run(name, func(b *testing.B) {
				t, keys := fill(n)
				r := rand.New(rand.NewPCG(9, 9))
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					i := r.IntN(n)
					old := keys[i]
					if far {
						keys[i].A = r.Int64N(1 << 40)
					} else {
						keys[i].A += r.Int64N(1<<20) - 1<<19 // ~1 place in 1M random 40-bit scores
					}
					t.Move(old, keys[i], int64(i))
				}
			})
		}
	}
}

// BenchmarkRank looks up the rank of a random present key.
func BenchmarkRank(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			t, keys := fill(n)
			r := rand.New(rand.NewPCG(9, 9))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if t.Rank(keys[r.IntN(n)]) == 0 {
					b.Fatal("missing")
				}
			}
		})
	}
}

// BenchmarkAt selects the entry at a random rank.
func BenchmarkAt(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			t, _ := fill(n)
			r := rand.New(rand.NewPCG(9, 9))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if it := t.At(1 + r.IntN(n)); !it.Valid() {
					b.Fatal("missing")
				}
			}
		})
	}
}

// BenchmarkTop10 reads the first 10 entries.
func BenchmarkTop10(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			t, _ := fill(n)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				it := t.At(1)
				for range 10 {
					it.Next()
				}
			}
		})
	}
}

// BenchmarkAround10 reads 10 entries from a random rank, as the window
// around a player does.
func BenchmarkAround10(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			t, _ := fill(n)
			r := rand.New(rand.NewPCG(9, 9))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				it := t.At(1 + r.IntN(n-10))
				for range 10 {
					it.Next()
				}
			}
		})
	}
}
