package rank

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/iogo-dev/iogo/pkg/store"
	"github.com/iogo-dev/iogo/services/logic-rank/internal/ostree"
)

// The KV backend keeps every board period of the bucket in memory, in an
// order-statistic B+tree per period, and persists each record under
//
//	r.<board>.<period>.<owner>
//
// (period: start in Unix seconds, 0 for boards that never reset). Every
// instance watches "r." and applies the changes of all instances to its
// index, so ranks agree across instances once the watch has delivered a
// write. Writes are compare-and-set (KV.Update with the revision read), so
// Best, Incr and Decr stay correct under concurrent submits. Expired
// periods are deleted by one instance, which claims gc.<board>.<period>.

const (
	recPrefix = "r."
	gcPrefix  = "gc."
	// gcStale is how old a cleanup claim must be before another instance
	// takes it over (its owner died mid-way).
	gcStale = 10 * time.Minute
	// resyncDelay is the pause before a failed watch is opened again.
	resyncDelay = time.Second
)

// errUnchanged stops a write whose submission does not change the record.
var errUnchanged = errors.New("rank: unchanged")

type scopeID struct {
	board  string
	period int64
}

// index is one board period in memory.
type index struct {
	mu     sync.RWMutex
	sort   Sort
	tree   *ostree.Tree[*entry]
	owners map[int64]*entry
	// gone holds, per owner removed here (Remove) before the watch has
	// delivered the delete, the revision of the record removed: a watch
	// event of that record or an older one, still on its way, must not
	// bring it back. The delete's own event clears it.
	gone map[int64]uint64
}

type entry struct {
	rec Record // Rank unset
	key ostree.Key
	rev uint64
}

// kvBoards is the default Boards: memory indexes over a store.KV.
//
// Lock order: kvBoards.mu before index.mu.
type kvBoards struct {
	kv     store.KV
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.RWMutex
	scopes map[scopeID]*index
	// dropped holds, per expired period, the newest revision it had:
	// watch events up to it arrive late and must not bring it back.
	dropped map[scopeID]uint64
}

// NewKVBoards returns the default Boards backend: an in-memory
// order-statistic index per board period, persisted in kv, kept in step
// with other instances on the same bucket through kv's watch. It returns
// once the records already stored are loaded. Close stops the watch.
func NewKVBoards(ctx context.Context, kv store.KV, log *slog.Logger) (Boards, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	wctx, cancel := context.WithCancel(context.Background())
	b := &kvBoards{kv: kv, log: log, cancel: cancel, done: make(chan struct{}), scopes: map[scopeID]*index{}, dropped: map[scopeID]uint64{}}
	ch, err := kv.Watch(wctx, recPrefix)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("rank: watch records: %w", err)
	}
	ready := make(chan struct{})
	go b.watch(wctx, ch, ready)
	select {
	case <-ready:
		return b, nil
	case <-b.done:
		cancel()
		return nil, errors.New("rank: record watch ended while loading")
	case <-ctx.Done():
		cancel()
		<-b.done
		return nil, fmt.Errorf("rank: loading records: %w", ctx.Err())
	}
}

// watch applies the record changes of every instance until ctx ends,
// opening the watch again when it fails.
func (b *kvBoards) watch(ctx context.Context, ch <-chan *store.Change, ready chan struct{}) {
	defer close(b.done)
	first := true
	for {
		var seen map[string]bool
		if !first {
			seen = map[string]bool{}
		}
		loading := true
		for c := range ch {
			if c == nil {
				if loading && seen != nil {
					b.sweep(seen)
				}
				loading = false
				if first {
					first = false
					close(ready)
				}
				continue
			}
			if loading && seen != nil {
				seen[c.Key] = true
			}
			b.applyChange(c)
		}
		if ctx.Err() != nil {
			return
		}
		b.log.Warn("rank: record watch ended; reopening")
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(resyncDelay):
			}
			var err error
			if ch, err = b.kv.Watch(ctx, recPrefix); err == nil {
				break
			}
			b.log.Warn("rank: reopening record watch", slog.Any("error", err))
		}
		if first {
			// Never became ready: NewKVBoards still waits for ready.
			continue
		}
	}
}

// sweep drops the records that a fresh watch no longer lists: deletes
// missed while the watch was down.
func (b *kvBoards) sweep(seen map[string]bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for id, idx := range b.scopes {
		idx.mu.Lock()
		for owner, e := range idx.owners {
			if !seen[recordKey(id.board, id.period, owner)] {
				idx.tree.Delete(e.key)
				delete(idx.owners, owner)
			}
		}
		for owner := range idx.gone { // their deletes are done
			if !seen[recordKey(id.board, id.period, owner)] {
				delete(idx.gone, owner)
			}
		}
		idx.mu.Unlock()
	}
}

func (b *kvBoards) applyChange(c *store.Change) {
	board, period, owner, ok := parseRecordKey(c.Key)
	if !ok {
		return
	}
	id := scopeID{board, period}
	if c.Deleted {
		b.mu.RLock()
		idx := b.scopes[id]
		b.mu.RUnlock()
		if idx != nil {
			idx.remove(owner, c.Revision)
		}
		return
	}
	rec, s, err := decodeRecord(c.Value, owner)
	if err != nil {
		b.log.Warn("rank: skipping a corrupt record", slog.String("key", c.Key), slog.Any("error", err))
		return
	}
	b.mu.RLock()
	tomb, isDropped := b.dropped[id]
	b.mu.RUnlock()
	if isDropped && c.Revision <= tomb {
		return
	}
	b.index(id, s).put(rec, c.Revision)
}

func recordKey(board string, period, owner int64) string {
	return recPrefix + board + "." + strconv.FormatInt(period, 10) + "." + strconv.FormatInt(owner, 10)
}

func periodPrefix(board string, period int64) string {
	return recPrefix + board + "." + strconv.FormatInt(period, 10) + "."
}

func parseRecordKey(k string) (board string, period, owner int64, ok bool) {
	parts := strings.Split(strings.TrimPrefix(k, recPrefix), ".")
	if len(parts) != 3 || !strings.HasPrefix(k, recPrefix) {
		return "", 0, 0, false
	}
	p, err1 := strconv.ParseInt(parts[1], 10, 64)
	o, err2 := strconv.ParseInt(parts[2], 10, 64)
	return parts[0], p, o, err1 == nil && err2 == nil
}

// index returns the index of a scope, creating it.
func (b *kvBoards) index(id scopeID, s Sort) *index {
	b.mu.RLock()
	idx := b.scopes[id]
	b.mu.RUnlock()
	if idx != nil {
		return idx
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if idx = b.scopes[id]; idx == nil {
		idx = &index{sort: s, tree: ostree.New[*entry](), owners: map[int64]*entry{}}
		b.scopes[id] = idx
	}
	return idx
}

// lookup returns the index of a scope, or nil.
func (b *kvBoards) lookup(s Scope) *index {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.scopes[scopeID{s.Board.ID, s.Period}]
}

// put stores rec at revision rev unless the index holds a newer one, and
// returns the owner's rank.
func (x *index) put(rec Record, rev uint64) int64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	if g, ok := x.gone[rec.Owner]; ok && rev <= g {
		return 0 // removed here; this is an older write still arriving
	}
	e := x.owners[rec.Owner]
	if e != nil {
		if rev <= e.rev {
			return int64(x.tree.Rank(e.key))
		}
		old := e.key
		rec.Rank = 0
		e.rec, e.key, e.rev = rec, rec.key(x.sort), rev
		return int64(x.tree.Move(old, e.key, e))
	}
	e = &entry{}
	x.owners[rec.Owner] = e
	rec.Rank = 0
	e.rec, e.key, e.rev = rec, rec.key(x.sort), rev
	return int64(x.tree.Insert(e.key, e))
}

// remove deletes the owner's record unless the index holds a revision
// newer than rev. Rev 0 is a removal made here (Remove) whose delete the
// watch has yet to deliver: whatever the index holds goes, and is kept
// out (gone) until that delete arrives.
func (x *index) remove(owner int64, rev uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if rev > 0 {
		if g, ok := x.gone[owner]; ok && g <= rev {
			delete(x.gone, owner)
		}
	}
	e := x.owners[owner]
	if e == nil || (rev > 0 && e.rev > rev) {
		return
	}
	if rev == 0 {
		if x.gone == nil {
			x.gone = map[int64]uint64{}
		}
		x.gone[owner] = max(x.gone[owner], e.rev)
	}
	x.tree.Delete(e.key)
	delete(x.owners, owner)
}

// maxRev returns the newest revision in the index.
func (x *index) maxRev() uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var m uint64
	for _, e := range x.owners {
		m = max(m, e.rev)
	}
	return m
}

// full reports whether the period holds max records or more and k would
// rank after the last.
func (x *index) full(max int64, k ostree.Key) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := x.tree.Len()
	if int64(n) < max {
		return false
	}
	last := x.tree.At(n)
	return !k.Less(last.Key())
}

// beyond returns the owners ranked after max.
func (x *index) beyond(max int64) []int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []int64
	for it := x.tree.At(int(max) + 1); it.Valid(); it.Next() {
		out = append(out, it.Value().rec.Owner)
	}
	return out
}

func (b *kvBoards) Submit(ctx context.Context, s Scope, sub Submission, now time.Time) (Record, error) {
	key := recordKey(s.Board.ID, s.Period, sub.Owner)
	idx := b.index(scopeID{s.Board.ID, s.Period}, s.Board.Sort)
	var buf []byte
	for {
		e, err := b.kv.Get(ctx, key)
		exists := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return Record{}, err
		}
		var cur *Record
		if exists {
			r, _, err := decodeRecord(e.Value, sub.Owner)
			if err != nil {
				return Record{}, fmt.Errorf("%w: %s", err, key)
			}
			cur = &r
		}
		next, changed, err := apply(s.Board, cur, sub, now)
		if err != nil {
			return Record{}, err
		}
		if !changed {
			next.Rank = idx.put(next, e.Revision)
			return next, nil
		}
		if s.Board.MaxEntries > 0 && cur == nil && idx.full(s.Board.MaxEntries, next.key(s.Board.Sort)) {
			return Record{}, ErrBoardFull
		}
		buf = encodeRecord(buf[:0], &next, s.Board.Sort)
		var rev uint64
		if exists {
			rev, err = b.kv.Update(ctx, key, buf, e.Revision)
		} else {
			rev, err = b.kv.Create(ctx, key, buf)
		}
		switch {
		case err == nil:
			next.Rank = idx.put(next, rev)
			if s.Board.MaxEntries > 0 && next.Rank > 0 {
				b.trim(ctx, s, idx)
			}
			return next, nil
		case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrExists), errors.Is(err, store.ErrNotFound):
			if ctx.Err() != nil {
				return Record{}, fmt.Errorf("rank: submit %s: %w", key, ctx.Err())
			}
		default:
			return Record{}, err
		}
	}
}

// trim deletes the records ranked after Board.MaxEntries.
func (b *kvBoards) trim(ctx context.Context, s Scope, idx *index) {
	for _, owner := range idx.beyond(s.Board.MaxEntries) {
		if err := b.kv.Delete(ctx, recordKey(s.Board.ID, s.Period, owner)); err != nil {
			b.log.Warn("rank: trimming a full board", slog.String("board", s.Board.ID), slog.Any("error", err))
			return
		}
		idx.remove(owner, 0)
	}
}

func (b *kvBoards) Top(_ context.Context, s Scope, after *Record, limit int) ([]Record, error) {
	idx := b.lookup(s)
	if idx == nil || limit <= 0 {
		return nil, nil
	}
	idx.mu.RLock()
	defer idx.mu.RUnlock()
	var it ostree.Iter[*entry]
	if after == nil {
		it = idx.tree.At(1)
	} else {
		it = idx.tree.After(after.key(idx.sort))
	}
	return collect(it, limit), nil
}

func collect(it ostree.Iter[*entry], limit int) []Record {
	out := make([]Record, 0, min(limit, 128))
	for ; it.Valid() && len(out) < limit; it.Next() {
		r := it.Value().rec
		r.Rank = int64(it.Rank())
		out = append(out, r)
	}
	return out
}

func (b *kvBoards) Get(_ context.Context, s Scope, owner int64) (Record, bool, error) {
	idx := b.lookup(s)
	if idx == nil {
		return Record{}, false, nil
	}
	idx.mu.RLock()
	defer idx.mu.RUnlock()
	e := idx.owners[owner]
	if e == nil {
		return Record{}, false, nil
	}
	r := e.rec
	r.Rank = int64(idx.tree.Rank(e.key))
	return r, true, nil
}

func (b *kvBoards) Around(_ context.Context, s Scope, owner int64, limit int) ([]Record, error) {
	idx := b.lookup(s)
	if idx == nil || limit <= 0 {
		return nil, nil
	}
	idx.mu.RLock()
	defer idx.mu.RUnlock()
	e := idx.owners[owner]
	if e == nil {
		return nil, nil
	}
	r := int64(idx.tree.Rank(e.key))
	return collect(idx.tree.At(int(window(r, int64(idx.tree.Len()), limit))), limit), nil
}

func (b *kvBoards) Owners(_ context.Context, s Scope, owners []int64) ([]Record, error) {
	idx := b.lookup(s)
	if idx == nil {
		return nil, nil
	}
	idx.mu.RLock()
	out := make([]Record, 0, len(owners))
	for _, o := range owners {
		if e := idx.owners[o]; e != nil && !slices.ContainsFunc(out, func(r Record) bool { return r.Owner == o }) {
			r := e.rec
			r.Rank = int64(idx.tree.Rank(e.key))
			out = append(out, r)
		}
	}
	idx.mu.RUnlock()
	slices.SortFunc(out, func(a, b Record) int { return int(a.Rank - b.Rank) })
	return out, nil
}

func (b *kvBoards) Count(_ context.Context, s Scope) (int64, error) {
	idx := b.lookup(s)
	if idx == nil {
		return 0, nil
	}
	idx.mu.RLock()
	defer idx.mu.RUnlock()
	return int64(idx.tree.Len()), nil
}

func (b *kvBoards) Remove(ctx context.Context, s Scope, owner int64) error {
	if err := b.kv.Delete(ctx, recordKey(s.Board.ID, s.Period, owner)); err != nil {
		return err
	}
	if idx := b.lookup(s); idx != nil {
		idx.remove(owner, 0)
	}
	return nil
}

func (b *kvBoards) Expire(ctx context.Context, board *BoardConfig, before int64) error {
	// The watch loads every record, so the periods in memory are those
	// the bucket holds. Each stays in memory until its records are gone
	// from the bucket, so that a failed drop, or one another instance
	// claimed and may never finish, is tried again.
	b.mu.RLock()
	var periods []int64
	for id := range b.scopes {
		if id.board == board.ID && id.period < before {
			periods = append(periods, id.period)
		}
	}
	b.mu.RUnlock()
	busy := false
	for _, p := range periods {
		switch err := b.dropPeriod(ctx, board.ID, p); {
		case errors.Is(err, ErrExpireInProgress):
			busy = true
		case err != nil:
			return err
		default:
			b.forget(scopeID{board.ID, p})
		}
	}
	if busy {
		return ErrExpireInProgress
	}
	return nil
}

// forget drops a period from memory; watch events up to the newest
// revision it holds, arriving late, do not bring it back. (A record the
// watch has removed meanwhile had its earlier events delivered.)
func (b *kvBoards) forget(id scopeID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if idx := b.scopes[id]; idx != nil {
		b.dropped[id] = max(b.dropped[id], idx.maxRev())
		delete(b.scopes, id)
	}
}

// dropPeriod deletes a period's records from the bucket, or returns
// ErrExpireInProgress when another instance has claimed that work
// recently (a claim older than gcStale is taken over).
func (b *kvBoards) dropPeriod(ctx context.Context, board string, period int64) error {
	claim := gcPrefix + board + "." + strconv.FormatInt(period, 10)
	now := time.Now()
	stamp := []byte(strconv.FormatInt(now.UnixMilli(), 10))
	if _, err := b.kv.Create(ctx, claim, stamp); err != nil {
		if !errors.Is(err, store.ErrExists) {
			return err
		}
		e, err := b.kv.Get(ctx, claim)
		if errors.Is(err, store.ErrNotFound) {
			return ErrExpireInProgress // released meanwhile: done, or to be tried again
		}
		if err != nil {
			return err
		}
		ms, _ := strconv.ParseInt(string(e.Value), 10, 64)
		if now.Sub(time.UnixMilli(ms)) < gcStale {
			return ErrExpireInProgress // someone is on it
		}
		if _, err := b.kv.Update(ctx, claim, stamp, e.Revision); err != nil {
			return ErrExpireInProgress // someone else took it over
		}
	}
	if err := b.deleteRecords(ctx, board, period); err != nil {
		// Release the claim, so that the next Expire, here or elsewhere,
		// tries again at once.
		_ = b.kv.Delete(ctx, claim)
		return err
	}
	return b.kv.Delete(ctx, claim)
}

// deleteRecords deletes a period's records from the bucket.
func (b *kvBoards) deleteRecords(ctx context.Context, board string, period int64) error {
	keys, err := b.kv.Keys(ctx, periodPrefix(board, period))
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := b.kv.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

func (b *kvBoards) Close() error {
	b.cancel()
	<-b.done
	return nil
}
