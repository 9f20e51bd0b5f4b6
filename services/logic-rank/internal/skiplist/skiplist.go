// Package skiplist is an order-statistic skip list: a sorted set of keys,
// each with a value, where insert, delete, rank (position of a key) and
// select (key at a position) all take O(log n) expected time. Every forward
// link stores its span, the number of level-0 steps it skips, as in Redis'
// sorted sets; summing spans along a search path gives the rank.
//
// Keys are ordered ascending by (A, B, C, D), compared as signed integers;
// callers map their own order onto that (the rank service maps a
// descending score x to ^x). Keys are unique.
//
// A List is not safe for concurrent use; its owner guards it.
package skiplist

import "math/rand/v2"

// maxLevel bounds the height of a node: with p = 1/4, enough for 4^32
// keys.
const maxLevel = 32

// Key is the sort key of an entry, compared field by field.
type Key struct {
	A, B, C, D int64
}

// Less reports whether k sorts before o.
func (k Key) Less(o Key) bool {
	if k.A != o.A {
		return k.A < o.A
	}
	if k.B != o.B {
		return k.B < o.B
	}
	if k.C != o.C {
		return k.C < o.C
	}
	return k.D < o.D
}

type level[V any] struct {
	next *node[V]
	span int // level-0 steps from this node to next (to the end when next is nil)
}

type node[V any] struct {
	key    Key
	val    V
	levels []level[V]
}

// Nodes of the common heights carry their links in the same allocation, so
// a search step touches one cache line instead of two.
type (
	node1[V any] struct {
		node[V]
		arr [1]level[V]
	}
	node2[V any] struct {
		node[V]
		arr [2]level[V]
	}
	node3[V any] struct {
		node[V]
		arr [3]level[V]
	}
)

func newNode[V any](lvl int) *node[V] {
	switch lvl {
	case 1:
		x := &node1[V]{}
		x.levels = x.arr[:]
		return &x.node
	case 2:
		x := &node2[V]{}
		x.levels = x.arr[:]
		return &x.node
	case 3:
		x := &node3[V]{}
		x.levels = x.arr[:]
		return &x.node
	}
	return &node[V]{levels: make([]level[V], lvl)}
}

// List is an order-statistic skip list of keys with values of type V. The
// zero value is not usable; call New.
type List[V any] struct {
	head   node[V]
	level  int // levels in use, >= 1
	length int
	rng    *rand.PCG
	update [maxLevel]*node[V] // scratch for Insert/Delete
	rank   [maxLevel]int      // scratch for Insert
}

// New returns an empty list; seed fixes the node heights, for
// reproducible tests and benchmarks.
func New[V any](seed uint64) *List[V] {
	l := &List[V]{level: 1, rng: rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)}
	l.head.levels = make([]level[V], maxLevel)
	return l
}

// Len returns the number of keys.
func (l *List[V]) Len() int { return l.length }

// randomLevel draws a height: 1 with probability 3/4, 2 with 3/16, ...
func (l *List[V]) randomLevel() int {
	// Two random bits per level: a level is added while both are zero.
	r := l.rng.Uint64()
	lvl := 1
	for lvl < maxLevel && r&3 == 0 {
		lvl++
		r >>= 2
	}
	return lvl
}

// Insert adds key with val and returns its rank (1-based). A key already
// present gets val and keeps its place.
func (l *List[V]) Insert(key Key, val V) int {
	x := &l.head
	for i := l.level - 1; i >= 0; i-- {
		if i == l.level-1 {
			l.rank[i] = 0
		} else {
			l.rank[i] = l.rank[i+1]
		}
		for n := x.levels[i].next; n != nil && n.key.Less(key); n = x.levels[i].next {
			l.rank[i] += x.levels[i].span
			x = n
		}
		l.update[i] = x
	}
	if n := x.levels[0].next; n != nil && n.key == key {
		n.val = val
		clear(l.update[:l.level])
		return l.rank[0] + 1
	}
	lvl := l.randomLevel()
	if lvl > l.level {
		for i := l.level; i < lvl; i++ {
			l.rank[i] = 0
			l.update[i] = &l.head
			l.update[i].levels[i].span = l.length
		}
		l.level = lvl
	}
	n := newNode[V](lvl)
	n.key, n.val = key, val
	for i := 0; i < lvl; i++ {
		u := l.update[i]
		n.levels[i].next = u.levels[i].next
		u.levels[i].next = n
		n.levels[i].span = u.levels[i].span - (l.rank[0] - l.rank[i])
		u.levels[i].span = l.rank[0] - l.rank[i] + 1
	}
	for i := lvl; i < l.level; i++ {
		l.update[i].levels[i].span++
	}
	l.length++
	clear(l.update[:l.level])
	return l.rank[0] + 1
}

// Delete removes key and reports whether it was present.
func (l *List[V]) Delete(key Key) bool {
	x := &l.head
	for i := l.level - 1; i >= 0; i-- {
		for n := x.levels[i].next; n != nil && n.key.Less(key); n = x.levels[i].next {
			x = n
		}
		l.update[i] = x
	}
	n := x.levels[0].next
	if n == nil || n.key != key {
		clear(l.update[:l.level])
		return false
	}
	for i := 0; i < l.level; i++ {
		u := l.update[i]
		if u.levels[i].next == n {
			u.levels[i].span += n.levels[i].span - 1
			u.levels[i].next = n.levels[i].next
		} else {
			u.levels[i].span--
		}
	}
	for l.level > 1 && l.head.levels[l.level-1].next == nil {
		l.head.levels[l.level-1].span = 0
		l.level--
	}
	l.length--
	clear(l.update[:l.level])
	return true
}

// Rank returns the 1-based position of key, or 0 when it is absent.
func (l *List[V]) Rank(key Key) int {
	x, rank := &l.head, 0
	for i := l.level - 1; i >= 0; i-- {
		for n := x.levels[i].next; n != nil && !key.Less(n.key); n = x.levels[i].next {
			rank += x.levels[i].span
			x = n
		}
		if x != &l.head && x.key == key {
			return rank
		}
	}
	return 0
}

// Get returns the value of key.
func (l *List[V]) Get(key Key) (V, bool) {
	x := &l.head
	for i := l.level - 1; i >= 0; i-- {
		for n := x.levels[i].next; n != nil && n.key.Less(key); n = x.levels[i].next {
			x = n
		}
	}
	if n := x.levels[0].next; n != nil && n.key == key {
		return n.val, true
	}
	var zero V
	return zero, false
}

// At returns an iterator positioned at rank (1-based); it is exhausted at
// once when rank is out of range.
func (l *List[V]) At(rank int) Iter[V] {
	if rank < 1 || rank > l.length {
		return Iter[V]{}
	}
	x, traversed := &l.head, 0
	for i := l.level - 1; i >= 0; i-- {
		for x.levels[i].next != nil && traversed+x.levels[i].span <= rank {
			traversed += x.levels[i].span
			x = x.levels[i].next
		}
		if traversed == rank {
			return Iter[V]{n: x, rank: rank}
		}
	}
	return Iter[V]{}
}

// After returns an iterator positioned at the first key greater than key.
func (l *List[V]) After(key Key) Iter[V] {
	x, rank := &l.head, 0
	for i := l.level - 1; i >= 0; i-- {
		for n := x.levels[i].next; n != nil && !key.Less(n.key); n = x.levels[i].next {
			rank += x.levels[i].span
			x = n
		}
	}
	if x.levels[0].next == nil {
		return Iter[V]{}
	}
	return Iter[V]{n: x.levels[0].next, rank: rank + 1}
}

// Iter walks the list in order from a position. Its zero value is
// exhausted. An Iter is invalid once the list changes.
type Iter[V any] struct {
	n    *node[V]
	rank int
}

// Valid reports whether the iterator is at an entry.
func (it Iter[V]) Valid() bool { return it.n != nil }

// Key returns the current key.
func (it Iter[V]) Key() Key { return it.n.key }

// Value returns the current value.
func (it Iter[V]) Value() V { return it.n.val }

// Rank returns the 1-based rank of the current entry.
func (it Iter[V]) Rank() int { return it.rank }

// Next moves to the following entry.
func (it *Iter[V]) Next() {
	it.n = it.n.levels[0].next
	it.rank++
}
