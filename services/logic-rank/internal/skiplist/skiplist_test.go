package skiplist

import (
	"fmt"
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

// model is the reference: a sorted slice of keys.
type model []Key

func (m model) find(k Key) (int, bool) { return slices.BinarySearchFunc(m, k, cmpKey) }

// check compares every observable of l with m.
func check(t *testing.T, l *List[int64], m model) {
	t.Helper()
	if l.Len() != len(m) {
		t.Fatalf("Len = %d, want %d", l.Len(), len(m))
	}
	i := 0
	for it := l.At(1); it.Valid(); it.Next() {
		if it.Key() != m[i] || it.Rank() != i+1 || it.Value() != m[i].D {
			t.Fatalf("walk %d: %v rank %d val %d, want %v", i, it.Key(), it.Rank(), it.Value(), m[i])
		}
		i++
	}
	if i != len(m) {
		t.Fatalf("walk saw %d keys, want %d", i, len(m))
	}
	// The spans of every level add up to the length.
	for lv := 0; lv < l.level; lv++ {
		sum := 0
		for x := &l.head; x != nil; x = x.levels[lv].next {
			sum += x.levels[lv].span
		}
		if sum != l.length {
			t.Fatalf("level %d spans sum to %d, want %d", lv, sum, l.length)
		}
	}
}

func TestAgainstSortedSlice(t *testing.T) {
	tests := []struct {
		name   string
		ops    int
		domain int64 // small domains make many duplicates and deletes of present keys
	}{
		{"tiny domain", 2000, 8},
		{"small domain", 5000, 200},
		{"wide domain", 5000, 1 << 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(tt.domain)))
			l := New[int64](7)
			var m model
			randKey := func() Key {
				// Few distinct A and B values make the later fields decide.
				return Key{A: r.Int64N(tt.domain) - tt.domain/2, B: r.Int64N(3), C: r.Int64N(3) - 1, D: r.Int64N(tt.domain)}
			}
			for op := 0; op < tt.ops; op++ {
				switch r.IntN(10) {
				case 0, 1, 2, 3, 4: // insert
					k := randKey()
					i, found := m.find(k)
					if got := l.Insert(k, k.D); got != i+1 {
						t.Fatalf("Insert(%v) rank %d, want %d", k, got, i+1)
					}
					if !found {
						m = slices.Insert(m, i, k)
					}
				case 5, 6: // delete, half the time a present key
					k := randKey()
					if len(m) > 0 && r.IntN(2) == 0 {
						k = m[r.IntN(len(m))]
					}
					i, found := m.find(k)
					if got := l.Delete(k); got != found {
						t.Fatalf("Delete(%v) = %v, want %v", k, got, found)
					}
					if found {
						m = slices.Delete(m, i, i+1)
					}
				case 7: // rank and get
					k := randKey()
					if len(m) > 0 && r.IntN(2) == 0 {
						k = m[r.IntN(len(m))]
					}
					i, found := m.find(k)
					want := 0
					if found {
						want = i + 1
					}
					if got := l.Rank(k); got != want {
						t.Fatalf("Rank(%v) = %d, want %d", k, got, want)
					}
					if v, ok := l.Get(k); ok != found || (found && v != k.D) {
						t.Fatalf("Get(%v) = %d %v", k, v, ok)
					}
				case 8: // select
					rank := r.IntN(len(m)+2) - 1
					it := l.At(rank)
					if rank < 1 || rank > len(m) {
						if it.Valid() {
							t.Fatalf("At(%d) valid with %d keys", rank, len(m))
						}
						break
					}
					if !it.Valid() || it.Key() != m[rank-1] || it.Rank() != rank {
						t.Fatalf("At(%d) wrong", rank)
					}
				case 9: // seek
					k := randKey()
					if len(m) > 0 && r.IntN(2) == 0 {
						k = m[r.IntN(len(m))]
					}
					i, found := m.find(k)
					if found {
						i++
					}
					it := l.After(k)
					if i == len(m) {
						if it.Valid() {
							t.Fatalf("After(%v) valid past the end", k)
						}
						break
					}
					if !it.Valid() || it.Key() != m[i] || it.Rank() != i+1 {
						t.Fatalf("After(%v) at %v rank %d, want %v rank %d", k, it.Key(), it.Rank(), m[i], i+1)
					}
				}
				if op%97 == 0 {
					check(t, l, m)
				}
			}
			check(t, l, m)
			for len(m) > 0 { // drain: the list shrinks back to one level
				k := m[r.IntN(len(m))]
				i, _ := m.find(k)
				if !l.Delete(k) {
					t.Fatalf("Delete(%v) of a present key failed", k)
				}
				m = slices.Delete(m, i, i+1)
			}
			check(t, l, m)
			if l.level != 1 || l.At(1).Valid() {
				t.Fatalf("empty list has level %d", l.level)
			}
		})
	}
}

func TestInsertReplacesValue(t *testing.T) {
	l := New[int64](1)
	k := Key{A: 1}
	l.Insert(k, 1)
	if r := l.Insert(k, 2); r != 1 || l.Len() != 1 {
		t.Fatalf("rank %d len %d", r, l.Len())
	}
	if v, _ := l.Get(k); v != 2 {
		t.Fatalf("value %d", v)
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

// fill returns a list of n random keys and the keys.
func fill(n int) (*List[int64], []Key) {
	r := rand.New(rand.NewPCG(uint64(n), 3))
	l := New[int64](uint64(n))
	keys := make([]Key, n)
	for i := range keys {
		keys[i] = Key{A: r.Int64N(1 << 40), D: int64(i)}
		l.Insert(keys[i], int64(i))
	}
	return l, keys
}

var sizes = []int{10_000, 100_000, 1_000_000}

// BenchmarkUpdate moves a random entry to a new random score (a delete
// and an insert: what a submit does to the index).
func BenchmarkUpdate(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			l, keys := fill(n)
			r := rand.New(rand.NewPCG(9, 9))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				i := r.IntN(n)
				l.Delete(keys[i])
				keys[i].A = r.Int64N(1 << 40)
				l.Insert(keys[i], int64(i))
			}
		})
	}
}

// BenchmarkRank looks up the rank of a random present key.
func BenchmarkRank(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			l, keys := fill(n)
			r := rand.New(rand.NewPCG(9, 9))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if l.Rank(keys[r.IntN(n)]) == 0 {
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
			l, _ := fill(n)
			r := rand.New(rand.NewPCG(9, 9))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if it := l.At(1 + r.IntN(n)); !it.Valid() {
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
			l, _ := fill(n)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				it := l.At(1)
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
			l, _ := fill(n)
			r := rand.New(rand.NewPCG(9, 9))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				it := l.At(1 + r.IntN(n-10))
				for range 10 {
					it.Next()
				}
			}
		})
	}
}
