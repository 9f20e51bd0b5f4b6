package guild

import (
	"context"
	"encoding/base64"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/store"
	guildpb "github.com/iogo-dev/iogo/proto/guild"
	"google.golang.org/protobuf/proto"
)

// index is an instance's in-memory search index of every guild's public
// fields, in normalized-name order. A name-prefix search is a binary
// search and a scan of the matching range; filters are applied during the
// scan, so a search that filters out most of a large range costs in
// proportion to the range. Insertion moves a slice of pointers (a memmove
// of 8 bytes per guild): fine up to some hundred thousand guilds.
type index struct {
	mu     sync.RWMutex
	byID   map[int64]*entry
	sorted []*entry // by key, then ID
}

type entry struct {
	key  string // normalized name
	lang string // lower-case language
	g    *guildpb.Guild
}

func newIndex() *index { return &index{byID: make(map[int64]*entry)} }

func cmpEntry(a *entry, key string, id int64) int {
	if c := strings.Compare(a.key, key); c != 0 {
		return c
	}
	switch {
	case a.g.Id < id:
		return -1
	case a.g.Id > id:
		return 1
	}
	return 0
}

// put records rec's public fields (or removes a disbanded guild).
func (x *index) put(rec *guildpb.GuildRecord) {
	if rec.Disbanded {
		x.remove(rec.Guild.Id)
		return
	}
	g := public(rec)
	e := &entry{key: normalize(g.Name), lang: strings.ToLower(g.Language), g: g}
	x.mu.Lock()
	defer x.mu.Unlock()
	if old, ok := x.byID[g.Id]; ok {
		if old.key == e.key {
			i, _ := slices.BinarySearchFunc(x.sorted, old, func(a, b *entry) int { return cmpEntry(a, b.key, b.g.Id) })
			x.sorted[i] = e
			x.byID[g.Id] = e
			return
		}
		x.removeLocked(old)
	}
	i, _ := slices.BinarySearchFunc(x.sorted, e, func(a, b *entry) int { return cmpEntry(a, b.key, b.g.Id) })
	x.sorted = slices.Insert(x.sorted, i, e)
	x.byID[g.Id] = e
}

func (x *index) remove(id int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if old, ok := x.byID[id]; ok {
		x.removeLocked(old)
	}
}

func (x *index) removeLocked(old *entry) {
	i, found := slices.BinarySearchFunc(x.sorted, old, func(a, b *entry) int { return cmpEntry(a, b.key, b.g.Id) })
	if found {
		x.sorted = slices.Delete(x.sorted, i, i+1)
	}
	delete(x.byID, old.g.Id)
}

// ids returns the IDs in the index.
func (x *index) ids() []int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]int64, 0, len(x.byID))
	for id := range x.byID {
		out = append(out, id)
	}
	return out
}

// len returns the number of guilds in the index.
func (x *index) len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.sorted)
}

var errCursor = errs.ErrValidation.WithMsg("guild: invalid cursor")

// search answers q from the index.
func (x *index) search(q *guildpb.SearchGuilds) (*guildpb.GuildPage, error) {
	limit := int(q.Limit)
	switch {
	case limit == 0:
		limit = DefaultSearchLimit
	case limit < 0 || limit > MaxSearchLimit:
		return nil, errs.ErrValidation.WithMsg("guild: limit must be 0..100")
	}
	if len(q.NamePrefix) > 4*MaxNameRunes || len(q.Language) > MaxLanguage {
		return nil, errs.ErrValidation.WithMsg("guild: prefix or language too long")
	}
	prefix := strings.ToLower(strings.TrimLeft(q.NamePrefix, " "))
	if strings.TrimSpace(prefix) != "" {
		// Keep one trailing space: "ab " is a prefix of "ab c" only.
		trail := strings.HasSuffix(prefix, " ")
		prefix = normalize(prefix)
		if trail {
			prefix += " "
		}
	} else {
		prefix = ""
	}
	lang := strings.ToLower(q.Language)
	// The cursor is the (key, id) of the last guild of the previous page.
	afterKey, afterID := prefix, int64(-1)
	if q.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil {
			return nil, errCursor
		}
		k, idStr, ok := strings.Cut(string(raw), "\x00")
		id, err := strconv.ParseInt(idStr, 10, 64)
		if !ok || err != nil || k < prefix {
			return nil, errCursor
		}
		afterKey, afterID = k, id
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	i, found := slices.BinarySearchFunc(x.sorted, afterKey, func(a *entry, k string) int { return cmpEntry(a, k, afterID) })
	if found {
		i++
	}
	page := &guildpb.GuildPage{}
	var last *entry
	for ; i < len(x.sorted); i++ {
		e := x.sorted[i]
		if !strings.HasPrefix(e.key, prefix) {
			break
		}
		if q.Open != nil && e.g.Open != *q.Open ||
			q.HasFreeSlots && e.g.MemberCount >= e.g.MaxMembers ||
			lang != "" && e.lang != lang {
			continue
		}
		if len(page.Guilds) == limit {
			page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(last.key + "\x00" + strconv.FormatInt(last.g.Id, 10)))
			break
		}
		page.Guilds = append(page.Guilds, proto.CloneOf(e.g))
		last = e
	}
	return page, nil
}

// Search lists guilds by name prefix and filters from this instance's
// index, one page at a time.
func (s *Guilds) Search(q *guildpb.SearchGuilds) (*guildpb.GuildPage, error) { return s.idx.search(q) }

// Watch feeds the search index from the store until ctx ends: it returns
// once the index holds every guild (or with the first error), and keeps
// it current in a goroutine that ends with ctx; done is closed then. A
// broken watch is opened again, and the index reconciled with the
// store's current state.
func (s *Guilds) Watch(ctx context.Context) (done <-chan struct{}, err error) {
	ch, err := s.kv.Watch(ctx, prefixGuild)
	if err != nil {
		return nil, err
	}
	loaded := make(chan struct{})
	d := make(chan struct{})
	go func() {
		defer close(d)
		first := true
		for {
			s.follow(ch, func() {
				if first {
					close(loaded)
					first = false
				}
			})
			if ctx.Err() != nil {
				if first {
					close(loaded)
				}
				return
			}
			s.log.Warn("guild index watch ended; reopening")
			for {
				t := time.NewTimer(time.Second)
				select {
				case <-ctx.Done():
					t.Stop()
					if first {
						close(loaded)
					}
					return
				case <-t.C:
				}
				if ch, err = s.kv.Watch(ctx, prefixGuild); err == nil {
					break
				}
				s.log.Warn("guild index watch", slog.Any("error", err))
			}
		}
	}()
	select {
	case <-loaded:
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return d, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// follow applies the changes of one watch until its channel closes; at the
// end of the initial values it drops guilds the store no longer has and
// calls ready.
func (s *Guilds) follow(ch <-chan *store.Change, ready func()) {
	seen := make(map[int64]bool)
	initial := true
	for c := range ch {
		if c == nil {
			if initial {
				for _, id := range s.idx.ids() {
					if !seen[id] {
						s.idx.remove(id)
					}
				}
				initial = false
				ready()
			}
			continue
		}
		id, err := strconv.ParseInt(strings.TrimPrefix(c.Key, prefixGuild), 10, 64)
		if err != nil || strings.Contains(c.Key[len(prefixGuild):], ".") {
			continue
		}
		if c.Deleted {
			s.idx.remove(id)
			continue
		}
		rec, err := decodeRecord(c.Value)
		if err != nil {
			s.log.Warn("guild index: bad record", slog.String("key", c.Key), slog.Any("error", err))
			continue
		}
		if initial {
			seen[id] = true
		}
		s.idx.put(rec)
	}
}
