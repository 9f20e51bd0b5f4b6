// Package ostree is an order-statistic B+tree: a sorted set of keys, each
// with a value, where insert, delete, rank (position of a key) and select
// (key at a position) all take O(log n) time.
//
// The tree is built for the cache: nodes are wide (up to 64 keys, stored
// inline in arrays, so a node search is a binary search over contiguous
// memory, the keys' first fields apart from the rest), every inner node
// keeps the number of keys below each child (the rank of a key is the sum
// of the counts left of the search path), and the leaves are linked in key
// order, so a range scan walks arrays. A leaf keeps only the first fields
// and the order of its keys sorted; the rest of each key and its value
// stay in a slot, so an insert or a delete shifts 9 bytes a key. At a
// million keys the tree is four levels deep and a lookup touches a few
// dozen cache lines, most of them in the top levels, which stay cached;
// at that size a lookup's time goes to the cache misses of the lowest two
// levels, which is why Move walks to its two keys at once.
//
// Keys are ordered ascending by (A, B, C, D), compared as signed integers;
// callers map their own order onto that (the rank service maps a
// descending score x to ^x). Keys are unique: inserting a present key
// replaces its value.
//
// A Tree is not safe for concurrent use; its owner guards it.
package ostree

const (
	// leafCap and innerCap are the node widths. A leaf of 64 keys and
	// values is 2.6 KiB, an inner node of 64 children 3.5 KiB.
	width    = 64
	leafCap  = width
	innerCap = width
	// A node below its minimum (other than the root's only child) is
	// merged with a neighbour or takes keys from it.
	leafMin  = leafCap / 4
	innerMin = innerCap / 4
	// maxDepth bounds the levels of inner nodes on the paths Move keeps:
	// a tree one level deeper would hold over 2×16^maxDepth keys (10^14).
	maxDepth = 12
)

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

// keys is the key array of an inner node, split by field: the first
// fields side by side, so a binary search reads 8 bytes per probe and the
// rest only on a tie of the first field.
type keys struct {
	a [innerCap]int64
	t [innerCap]tail
}

// tail is the fields of a key after the first.
type tail struct{ B, C, D int64 }

func (k *keys) at(i int) Key {
	t := &k.t[i]
	return Key{k.a[i], t.B, t.C, t.D}
}

func (k *keys) set(i int, key Key) {
	k.a[i], k.t[i] = key.A, tail{key.B, key.C, key.D}
}

// greater reports whether key i is greater than key.
func (k *keys) greater(i int, key Key) bool {
	return k.a[i] > key.A || k.a[i] == key.A && key.lessTail(&k.t[i])
}

// less reports whether t sorts before the tail of key.
func (t *tail) less(key Key) bool {
	if t.B != key.B {
		return t.B < key.B
	}
	if t.C != key.C {
		return t.C < key.C
	}
	return t.D < key.D
}

// lessTail reports whether the tail of k sorts before t.
func (k Key) lessTail(t *tail) bool {
	if k.B != t.B {
		return k.B < t.B
	}
	if k.C != t.C {
		return k.C < t.C
	}
	return k.D < t.D
}

// move copies keys [from, to) of src to position at of k and returns how
// many it copied; src may be k.
func (k *keys) move(at int, src *keys, from, to int) int {
	copy(k.t[at:], src.t[from:to])
	return copy(k.a[at:], src.a[from:to])
}

// leaf holds keys in order and their values. Only the first fields and
// the order are kept sorted: the tails and values stay in slots, so an
// insert or a delete shifts 9 bytes a key (a and ord) instead of 40 (the
// whole key and the value), and a delete reads no tail or value at all:
// fewer cache lines of a leaf that is not in the cache yet. ord is a
// permutation of the slots: ord[:n] those of the keys, in key order, and
// ord[n:] the free ones.
type leaf[V any] struct {
	n    int
	next *leaf[V]
	ord  [leafCap]uint8 // ord[i] is the slot of key i; ord[n:] the free slots
	a    [leafCap]int64 // the first field of key i
	t    [leafCap]tail  // by slot
	vals [leafCap]V     // by slot
}

// ord holds slots up to leafCap-1.
const _ = uint8(leafCap - 1)

// key returns key i of l.
func (l *leaf[V]) key(i int) Key {
	t := &l.t[l.ord[i]]
	return Key{l.a[i], t.B, t.C, t.D}
}

// val returns the value of key i.
func (l *leaf[V]) val(i int) *V { return &l.vals[l.ord[i]] }

// inner is a node above the leaves. Its children are inner nodes, or
// leaves when leafKids is set; only the matching array is used.
type inner[V any] struct {
	n        int
	leafKids bool
	// keys[i], i >= 1, is a lower bound of child i's keys and greater
	// than every key of child i-1. keys[0] is the node's own lower bound,
	// the parent's separator for it (zero in the leftmost nodes), so
	// children keep their bound when they move between siblings.
	keys   keys
	counts [innerCap]int // keys in the subtree of each child
	kids   [innerCap]*inner[V]
	leaves [innerCap]*leaf[V]
}

// Tree is an order-statistic B+tree of keys with values of type V. The
// zero value is not usable; call New.
type Tree[V any] struct {
	root   *inner[V] // never nil; at least one child
	length int
}

// New returns an empty tree.
func New[V any]() *Tree[V] {
	return &Tree[V]{root: &inner[V]{n: 1, leafKids: true, leaves: [innerCap]*leaf[V]{0: newLeaf[V](nil)}}}
}

// Len returns the number of keys.
func (t *Tree[V]) Len() int { return t.length }

// child returns the index of the child of x whose range holds k: the
// number of separators keys[1:n] that are <= k.
func (x *inner[V]) child(k Key) int {
	lo, hi := 1, x.n // invariant: keys[<lo] <= k, keys[>=hi] > k
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if x.keys.greater(m, k) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo - 1
}

// holds reports whether k is in the range of child i of x: whether
// child(k) is i.
func (x *inner[V]) holds(i int, k Key) bool {
	return (i == 0 || !x.keys.greater(i, k)) && (i+1 == x.n || x.keys.greater(i+1, k))
}

// below returns the number of keys in the children of x before child i;
// total is the number of keys under x.
func (x *inner[V]) below(i, total int) int {
	r := 0
	if i <= x.n/2 {
		for _, c := range x.counts[:i] {
			r += c
		}
		return r
	}
	for _, c := range x.counts[i:x.n] {
		r += c
	}
	return total - r
}

// search returns the position of the first key of l that is not less
// than k, and whether it is k.
func (l *leaf[V]) search(k Key) (int, bool) {
	lo, hi := 0, l.n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if l.a[m] < k.A || l.a[m] == k.A && l.t[l.ord[m]].less(k) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < l.n && l.key(lo) == k
}

// Insert adds key with val and returns its rank (1-based). A key already
// present gets val and keeps its place.
func (t *Tree[V]) Insert(key Key, val V) int {
	rank, added, right, sep := t.insert(t.root, t.length, key, val)
	if added {
		t.length++
	}
	if right != nil {
		old := t.root
		t.root = &inner[V]{n: 2}
		t.root.keys.set(1, sep)
		t.root.counts[0], t.root.counts[1] = old.total(), right.total()
		t.root.kids[0], t.root.kids[1] = old, right
	}
	return rank
}

func (x *inner[V]) total() int {
	s := 0
	for _, c := range x.counts[:x.n] {
		s += c
	}
	return s
}

// insert adds key under x, which holds total keys. It returns the key's
// rank within x, whether it was added, and, when x had to split, the new
// right sibling and its lower bound.
func (t *Tree[V]) insert(x *inner[V], total int, key Key, val V) (rank int, added bool, right *inner[V], sep Key) {
	i := x.child(key)
	before := x.below(i, total)
	var (
		newLeaf  *leaf[V]
		newInner *inner[V]
		newSep   Key
	)
	if x.leafKids {
		l := x.leaves[i]
		p, found := l.search(key)
		if found {
			*l.val(p) = val
			return before + p + 1, false, nil, Key{}
		}
		rank = p + 1
		if l.n == leafCap {
			newLeaf = l.split()
			if p > l.n {
				p -= l.n
				l = newLeaf
			}
			newSep = newLeaf.key(0)
		}
		l.insertAt(p, key, val)
		if newLeaf != nil {
			x.counts[i] = x.leaves[i].n
		} else {
			x.counts[i]++
		}
	} else {
		var ok bool
		rank, ok, newInner, newSep = t.insert(x.kids[i], x.counts[i], key, val)
		if !ok {
			return before + rank, false, nil, Key{}
		}
		x.counts[i]++
		if newInner != nil {
			x.counts[i] = x.kids[i].total()
		}
	}
	rank += before
	if newLeaf == nil && newInner == nil {
		return rank, true, nil, Key{}
	}
	// A child split: its new right sibling goes in at i+1.
	at, n := i+1, newLeaf.count(newInner)
	if x.n == innerCap {
		right = x.split()
		sep = right.keys.at(0)
		if at > x.n {
			right.insertAt(at-x.n, newSep, n, newInner, newLeaf)
			return rank, true, right, sep
		}
	}
	x.insertAt(at, newSep, n, newInner, newLeaf)
	return rank, true, right, sep
}

// newLeaf returns an empty leaf before next, its slots all free.
func newLeaf[V any](next *leaf[V]) *leaf[V] {
	l := &leaf[V]{next: next}
	for i := range l.ord {
		l.ord[i] = uint8(i)
	}
	return l
}

// insertAt puts key and val at position p of a leaf that has room, in
// its first free slot.
func (l *leaf[V]) insertAt(p int, key Key, val V) {
	s := l.ord[l.n]
	copy(l.a[p+1:l.n+1], l.a[p:l.n])
	copy(l.ord[p+1:l.n+1], l.ord[p:l.n])
	l.a[p], l.ord[p] = key.A, s
	l.t[s], l.vals[s] = tail{key.B, key.C, key.D}, val
	l.n++
}

// removeAt drops the key at position p.
func (l *leaf[V]) removeAt(p int) { l.cut(p, p+1) }

// cut drops keys [from, to). Their slots become free, after the keys
// left; no tail or value moves (the values are zeroed, for the garbage
// collector).
func (l *leaf[V]) cut(from, to int) {
	m := to - from
	var freed [leafCap]uint8
	copy(freed[:m], l.ord[from:to])
	copy(l.a[from:], l.a[to:l.n])
	copy(l.ord[from:], l.ord[to:l.n])
	l.n -= m
	copy(l.ord[l.n:], freed[:m])
	var zero V
	for _, s := range freed[:m] {
		l.vals[s] = zero
	}
}

// take inserts copies of keys [from, to) of src, another leaf, and their
// values at position at of l, in its first free slots.
func (l *leaf[V]) take(at int, src *leaf[V], from, to int) {
	m := to - from
	var free [leafCap]uint8
	copy(free[:m], l.ord[l.n:l.n+m])
	copy(l.a[at+m:], l.a[at:l.n])
	copy(l.ord[at+m:l.n+m], l.ord[at:l.n])
	for k := range m {
		s, d := src.ord[from+k], free[k]
		l.a[at+k], l.ord[at+k] = src.a[from+k], d
		l.t[d], l.vals[d] = src.t[s], src.vals[s]
	}
	l.n += m
}

// count returns the number of keys of the new node of a split: l, or x
// when l is nil.
func (l *leaf[V]) count(x *inner[V]) int {
	if l != nil {
		return l.n
	}
	return x.total()
}

// split moves the upper half of a full leaf to a new leaf, linked after
// it, and returns the new leaf.
func (l *leaf[V]) split() *leaf[V] {
	r := newLeaf(l.next)
	h := l.n / 2
	r.take(0, l, h, l.n)
	l.cut(h, l.n)
	l.next = r
	return r
}

// split moves the upper half of a full inner node to a new node and
// returns it; the new node's keys[0] is its lower bound.
func (x *inner[V]) split() *inner[V] {
	r := &inner[V]{leafKids: x.leafKids}
	h := x.n / 2
	r.n = r.keys.move(0, &x.keys, h, x.n)
	copy(r.counts[:], x.counts[h:x.n])
	if x.leafKids {
		copy(r.leaves[:], x.leaves[h:x.n])
		clear(x.leaves[h:x.n])
	} else {
		copy(r.kids[:], x.kids[h:x.n])
		clear(x.kids[h:x.n])
	}
	x.n = h
	return r
}

// insertAt puts a child with lower bound k and n keys at position i.
func (x *inner[V]) insertAt(i int, k Key, n int, kid *inner[V], l *leaf[V]) {
	x.keys.move(i+1, &x.keys, i, x.n)
	copy(x.counts[i+1:x.n+1], x.counts[i:x.n])
	x.keys.set(i, k)
	x.counts[i] = n
	if x.leafKids {
		copy(x.leaves[i+1:x.n+1], x.leaves[i:x.n])
		x.leaves[i] = l
	} else {
		copy(x.kids[i+1:x.n+1], x.kids[i:x.n])
		x.kids[i] = kid
	}
	x.n++
}

// removeAt drops the child at position i.
func (x *inner[V]) removeAt(i int) {
	x.keys.move(i, &x.keys, i+1, x.n)
	copy(x.counts[i:], x.counts[i+1:x.n])
	if x.leafKids {
		copy(x.leaves[i:], x.leaves[i+1:x.n])
		x.leaves[x.n-1] = nil
	} else {
		copy(x.kids[i:], x.kids[i+1:x.n])
		x.kids[x.n-1] = nil
	}
	x.n--
}

// Delete removes key and reports whether it was present.
func (t *Tree[V]) Delete(key Key) bool {
	if !t.delete(t.root, key) {
		return false
	}
	t.length--
	for t.root.n == 1 && !t.root.leafKids {
		t.root = t.root.kids[0]
	}
	return true
}

func (t *Tree[V]) delete(x *inner[V], key Key) bool {
	i := x.child(key)
	if x.leafKids {
		l := x.leaves[i]
		p, found := l.search(key)
		if !found {
			return false
		}
		l.removeAt(p)
		x.counts[i]--
		if l.n < leafMin && x.n > 1 {
			x.fixLeaf(i)
		}
		return true
	}
	c := x.kids[i]
	if !t.delete(c, key) {
		return false
	}
	x.counts[i]--
	if c.n < innerMin && x.n > 1 {
		x.fixInner(i)
	}
	return true
}

// fixLeaf refills the underfull leaf child i from a neighbour: the two
// merge when they fit in one leaf, else they share their keys evenly.
func (x *inner[V]) fixLeaf(i int) {
	j := i - 1
	if i == 0 {
		j = 0
	}
	l, r := x.leaves[j], x.leaves[j+1]
	if l.n+r.n <= leafCap {
		l.take(l.n, r, 0, r.n)
		l.next = r.next
		x.counts[j] = l.n
		x.removeAt(j + 1)
		return
	}
	h := (l.n + r.n) / 2
	if l.n < h { // move r's head to l's tail
		m := h - l.n
		l.take(l.n, r, 0, m)
		r.cut(0, m)
	} else { // move l's tail to r's head
		r.take(0, l, h, l.n)
		l.cut(h, l.n)
	}
	x.keys.set(j+1, r.key(0))
	x.counts[j], x.counts[j+1] = l.n, r.n
}

// fixInner is fixLeaf for inner children.
func (x *inner[V]) fixInner(i int) {
	j := i - 1
	if i == 0 {
		j = 0
	}
	l, r := x.kids[j], x.kids[j+1]
	if l.n+r.n <= innerCap {
		l.take(l.n, r, 0, r.n)
		l.n += r.n
		x.counts[j] += x.counts[j+1]
		x.removeAt(j + 1)
		return
	}
	h := (l.n + r.n) / 2
	if l.n < h { // move r's head to l's tail
		m := h - l.n
		l.take(l.n, r, 0, m)
		l.n = h
		r.take(0, r, m, r.n)
		r.clearFrom(r.n - m)
		r.n -= m
	} else { // move l's tail to r's head
		m := l.n - h
		r.take(m, r, 0, r.n)
		r.take(0, l, h, l.n)
		r.n += m
		l.clearFrom(h)
		l.n = h
	}
	x.keys.set(j+1, r.keys.at(0))
	x.counts[j], x.counts[j+1] = l.total(), r.total()
}

// take copies the children [from, to) of y to position at of x.
func (x *inner[V]) take(at int, y *inner[V], from, to int) {
	x.keys.move(at, &y.keys, from, to)
	copy(x.counts[at:], y.counts[from:to])
	if x.leafKids {
		copy(x.leaves[at:], y.leaves[from:to])
	} else {
		copy(x.kids[at:], y.kids[from:to])
	}
}

// clearFrom drops the child pointers from position i to n.
func (x *inner[V]) clearFrom(i int) {
	clear(x.leaves[i:x.n])
	clear(x.kids[i:x.n])
}

// Move replaces key old, if present, with key new and value val, and
// returns new's rank: Delete(old) then Insert(new, val), in one walk.
//
// The walk goes down to old's and new's leaves at once, so the cache
// misses of the two paths overlap. When new sorts strictly between two
// other keys of old's leaf (a score change that moves an entry a few
// places, the common case on a leaderboard) the entry moves within its
// leaf, and no count or separator above changes. When the leaves differ,
// old's leaf stays above its minimum without old and new's has room (the
// common case for a jump to a random score), old and new change places
// directly, and only the counts below the node where the two paths part
// change. Otherwise Move falls back to Delete and Insert.
func (t *Tree[V]) Move(old, new Key, val V) int {
	var path [maxDepth]struct {
		x, y *inner[V] // the nodes on old's and new's paths
		i, j int       // the children taken
	}
	x, y := t.root, t.root
	xTotal, yTotal, rank, below := t.length, t.length, 0, 0
	d := 0
	for ; ; d++ {
		if d == maxDepth { // deeper than any tree that fits in memory
			t.Delete(old)
			return t.Insert(new, val)
		}
		// Both searches before the sums, so that the two nodes' cache
		// misses overlap; while the paths agree, two comparisons tell
		// whether new stays on old's.
		i, j := x.child(old), 0
		parted := x != y || !x.holds(i, new)
		if parted {
			j = y.child(new)
		} else {
			j = i
		}
		rank += x.below(i, xTotal)
		if parted {
			below += y.below(j, yTotal)
		} else {
			below = rank
		}
		path[d].x, path[d].y, path[d].i, path[d].j = x, y, i, j
		if x.leafKids {
			break
		}
		x, xTotal = x.kids[i], x.counts[i]
		y, yTotal = y.kids[j], y.counts[j]
	}
	l, m := x.leaves[path[d].i], y.leaves[path[d].j]
	// new's leaf is searched first: at a million keys that measured
	// faster than old's first (1.16 against 1.38 µs a far move).
	q, dup := 0, false
	if l != m {
		q, dup = m.search(new)
	}
	p, found := l.search(old)
	if !found {
		return t.Insert(new, val)
	}
	if l == m {
		if q := l.moveWithin(p, new, val); q >= 0 {
			return rank + q + 1
		}
	} else if !dup && l.n > leafMin && m.n < leafCap {
		l.removeAt(p)
		m.insertAt(q, new, val)
		for _, s := range path[:d+1] {
			if s.x != s.y || s.i != s.j {
				s.x.counts[s.i]--
				s.y.counts[s.j]++
			}
		}
		// below keys precede new, old among them when it sorts first.
		if old.Less(new) {
			below--
		}
		return below + q + 1
	}
	t.Delete(old)
	return t.Insert(new, val)
}

// moveWithin moves the key at p to new with val when new sorts strictly
// between two other keys of l, and returns its position; -1 when it does
// not, and l is unchanged.
func (l *leaf[V]) moveWithin(p int, new Key, val V) int {
	lo, hi := 0, l.n-1 // the leaf's other extreme keys
	if p == lo {
		lo++
	}
	if p == hi {
		hi--
	}
	if lo >= hi || !l.key(lo).Less(new) || !new.Less(l.key(hi)) {
		return -1
	}
	q, found := l.search(new)
	if found { // new is another entry's key: the general path decides
		return -1
	}
	// The entry keeps its slot; only a and ord shift.
	s := l.ord[p]
	if q > p { // shift (p, q) left; new goes just before q
		q--
		copy(l.a[p:], l.a[p+1:q+1])
		copy(l.ord[p:], l.ord[p+1:q+1])
	} else { // shift [q, p) right
		copy(l.a[q+1:], l.a[q:p])
		copy(l.ord[q+1:], l.ord[q:p])
	}
	l.a[q], l.ord[q] = new.A, s
	l.t[s], l.vals[s] = tail{new.B, new.C, new.D}, val
	return q
}

// Rank returns the 1-based position of key, or 0 when it is absent.
func (t *Tree[V]) Rank(key Key) int {
	x, total, rank := t.root, t.length, 0
	for {
		i := x.child(key)
		rank += x.below(i, total)
		if x.leafKids {
			if p, found := x.leaves[i].search(key); found {
				return rank + p + 1
			}
			return 0
		}
		x, total = x.kids[i], x.counts[i]
	}
}

// Get returns the value of key.
func (t *Tree[V]) Get(key Key) (V, bool) {
	x := t.root
	for !x.leafKids {
		x = x.kids[x.child(key)]
	}
	l := x.leaves[x.child(key)]
	if p, found := l.search(key); found {
		return *l.val(p), true
	}
	var zero V
	return zero, false
}

// At returns an iterator positioned at rank (1-based); it is exhausted at
// once when rank is out of range.
func (t *Tree[V]) At(rank int) Iter[V] {
	if rank < 1 || rank > t.length {
		return Iter[V]{}
	}
	x, left := t.root, rank-1 // keys to skip
	for {
		i := 0
		for left >= x.counts[i] {
			left -= x.counts[i]
			i++
		}
		if x.leafKids {
			return Iter[V]{l: x.leaves[i], i: left, rank: rank}
		}
		x = x.kids[i]
	}
}

// After returns an iterator positioned at the first key greater than key.
func (t *Tree[V]) After(key Key) Iter[V] {
	x, total, rank := t.root, t.length, 0
	for {
		i := x.child(key)
		rank += x.below(i, total)
		if !x.leafKids {
			x, total = x.kids[i], x.counts[i]
			continue
		}
		l := x.leaves[i]
		p, found := l.search(key)
		if found {
			p++
		}
		it := Iter[V]{l: l, i: p, rank: rank + p + 1}
		if p == l.n {
			it.l, it.i = l.next, 0
		}
		return it
	}
}

// Iter walks the tree in order from a position. Its zero value is
// exhausted. An Iter is invalid once the tree changes.
type Iter[V any] struct {
	l    *leaf[V]
	i    int
	rank int
}

// Valid reports whether the iterator is at an entry.
func (it Iter[V]) Valid() bool { return it.l != nil }

// Key returns the current key.
func (it Iter[V]) Key() Key { return it.l.key(it.i) }

// Value returns the current value.
func (it Iter[V]) Value() V { return *it.l.val(it.i) }

// Rank returns the 1-based rank of the current entry.
func (it Iter[V]) Rank() int { return it.rank }

// Next moves to the following entry.
func (it *Iter[V]) Next() {
	it.i++
	it.rank++
	if it.i == it.l.n {
		it.l, it.i = it.l.next, 0
	}
}
