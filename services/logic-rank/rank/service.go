package rank

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/store"
	rankpb "github.com/iogo-dev/iogo/proto/rank"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
)

// Service is the service name, and the queue group of its instances.
const Service = "rank"

// Buckets of the service.
const (
	// BoardsBucket holds board configurations, key b.<id>.
	BoardsBucket = "rank_boards"
	// RecordsBucket holds the records of the KV backend.
	RecordsBucket = "rank_records"
)

// Defaults of Config.
const (
	DefaultMetadataLimit  = 1024
	DefaultExpireInterval = time.Minute
	// MaxNameLen is the longest display name accepted, in bytes.
	MaxNameLen = 64
)

// Config configures the rank service. The zero value is usable.
type Config struct {
	// Boards are created at Open (CreateBoard), in addition to those of
	// the -boards flag.
	Boards []BoardConfig
	// MetadataLimit bounds a record's metadata in bytes; default
	// DefaultMetadataLimit.
	MetadataLimit int
	// Backend holds the records; nil: the in-memory index over the
	// store's RecordsBucket (NewKVBoards), or Redis sorted sets when the
	// -redis-zset flag is set. The service closes a Backend it was given.
	Backend Boards
	// Clock returns the current time; default time.Now. Tests move it to
	// roll periods.
	Clock func() time.Time
	// ExpireInterval is how often the service looks for periods to drop;
	// default DefaultExpireInterval. Maintain does it on demand.
	ExpireInterval time.Duration
	// Logger receives the service's logs; nil means the logic server's.
	Logger *slog.Logger
}

// board is a board known to this instance.
type board struct {
	cfg     BoardConfig
	sched   *schedule // nil: never resets
	cur     atomic.Pointer[Period]
	expired atomic.Int64 // the last Expire bound used
}

// period returns the board's period at t, cached until its next reset.
func (b *board) period(t time.Time) Period {
	if b.sched == nil {
		return Period{}
	}
	sec := t.Unix()
	if p := b.cur.Load(); p != nil && sec >= p.Start && sec < p.NextReset {
		return *p
	}
	p := b.sched.periodAt(t)
	b.cur.Store(&p)
	return p
}

// Module is the rank (leaderboard) service: the logic.Module that
// serves route cmd 4, and the Go API that server code uses to create
// boards and submit scores for any owner.
type Module struct {
	cfg        Config
	log        *slog.Logger
	clock      func() time.Time
	boardsSpec string
	redisURL   string

	backend Boards
	rdb     *redis.Client // opened from redisURL
	kv      store.KV      // board configurations
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu     sync.RWMutex
	boards map[string]*board
	// deleted holds boards deleted while another instance held a claim
	// on dropping some of their periods: Maintain drops them later.
	deleted map[string]*BoardConfig
}

// New returns the module; it does no I/O until Open.
func New(cfg Config) (*Module, error) {
	if cfg.MetadataLimit <= 0 {
		cfg.MetadataLimit = DefaultMetadataLimit
	}
	if cfg.ExpireInterval <= 0 {
		cfg.ExpireInterval = DefaultExpireInterval
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler) // until Open gives the server's
	}
	clock := cfg.Clock
	if clock == nil {
		clock = time.Now
	}
	for i := range cfg.Boards {
		if err := cfg.Boards[i].Validate(); err != nil {
			return nil, err
		}
	}
	return &Module{cfg: cfg, log: log, clock: clock, boards: map[string]*board{}}, nil
}

// FromFlags returns a module configured by flags on fs (-boards,
// -metadata-limit, -redis-zset), for svcmain.RunLogic.
func FromFlags(fs *flag.FlagSet) *Module {
	s, _ := New(Config{})
	s.Flags(fs)
	return s
}

// Flags adds the service's flags to fs; they take effect at Open.
func (s *Module) Flags(fs *flag.FlagSet) {
	fs.StringVar(&s.boardsSpec, "boards", "", `boards to create at start: inline JSON or a JSON file, e.g. [{"id":"weekly","reset":"0 0 * * 1"}]`)
	fs.IntVar(&s.cfg.MetadataLimit, "metadata-limit", DefaultMetadataLimit, "longest record metadata accepted, in bytes")
	fs.StringVar(&s.redisURL, "redis-zset", "", "keep boards in Redis sorted sets at this URL (redis://host:port/db) while the rest stays in the store; with -redis they are there already")
}

// Open loads the board configurations and records and creates the
// configured boards. srv may be nil (the Go API alone).
func (s *Module) Open(ctx context.Context, srv *logic.Server, st store.Opener) error {
	if s.cfg.Logger == nil && srv != nil {
		s.log = srv.Logger()
	}
	declared, err := ParseBoards(s.boardsSpec)
	if err != nil {
		return err
	}
	if s.cfg.MetadataLimit <= 0 {
		s.cfg.MetadataLimit = DefaultMetadataLimit
	}
	if s.kv, err = st.Open(ctx, store.Bucket{Name: BoardsBucket, Description: "rank: board configurations"}); err != nil {
		return fmt.Errorf("rank: open %s: %w", BoardsBucket, err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	ok := false
	defer func() {
		if !ok {
			_ = s.Close()
		}
	}()
	ch, err := s.kv.Watch(wctx, "b.")
	if err != nil {
		return fmt.Errorf("rank: watch boards: %w", err)
	}
	ready := make(chan struct{})
	s.wg.Add(1)
	go s.watchBoards(wctx, ch, ready)
	select {
	case <-ready:
	case <-ctx.Done():
		return fmt.Errorf("rank: loading boards: %w", ctx.Err())
	}
	switch {
	case s.cfg.Backend != nil:
		s.backend = s.cfg.Backend
	case s.redisURL != "":
		opt, err := redis.ParseURL(s.redisURL)
		if err != nil {
			return fmt.Errorf("rank: -redis-zset: %w", err)
		}
		s.rdb = redis.NewClient(opt)
		if err := s.rdb.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("rank: redis: %w", err)
		}
		s.backend = NewRedisBoards(s.rdb, "")
	case isRedis(st):
		// The service's store is Redis (-redis): boards live in its
		// sorted sets, which rank across instances by themselves.
		rdb, _ := store.RedisClient(st)
		s.backend = NewRedisBoards(rdb, "")
	default:
		kv, err := st.Open(ctx, store.Bucket{Name: RecordsBucket, Description: "rank: leaderboard records"})
		if err != nil {
			return fmt.Errorf("rank: open %s: %w", RecordsBucket, err)
		}
		if s.backend, err = NewKVBoards(ctx, kv, s.log); err != nil {
			return err
		}
	}
	for _, c := range append(slices.Clone(s.cfg.Boards), declared...) {
		if err := s.CreateBoard(ctx, c); err != nil {
			return fmt.Errorf("rank: board %s: %w", c.ID, err)
		}
	}
	s.wg.Add(1)
	go s.maintainLoop(wctx)
	ok = true
	return nil
}

// isRedis reports whether st is the Redis store.
func isRedis(st store.Opener) bool {
	_, ok := store.RedisClient(st)
	return ok
}

// Close stops the watches and the maintenance, and closes the backend.
func (s *Module) Close() error {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	var err error
	if s.backend != nil {
		err = s.backend.Close()
		s.backend = nil
	}
	if s.rdb != nil {
		err = errors.Join(err, s.rdb.Close())
		s.rdb = nil
	}
	return err
}

// watchBoards keeps the board map in step with the bucket until ctx
// ends, watching again when the store ends a watch; boards deleted while
// it was down are dropped when the new watch has listed the others.
func (s *Module) watchBoards(ctx context.Context, ch <-chan *store.Change, ready chan struct{}) {
	defer s.wg.Done()
	loaded := false
	for {
		var seen map[string]bool // the boards a reopened watch lists
		if loaded {
			seen = map[string]bool{}
		}
		for c := range ch {
			if c == nil {
				if seen != nil {
					s.sweepBoards(seen)
					seen = nil
				}
				if !loaded {
					loaded = true
					close(ready)
				}
				continue
			}
			id := c.Key[len("b."):]
			if seen != nil && !c.Deleted {
				seen[id] = true
			}
			s.applyBoard(id, c)
		}
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("rank: board watch ended; reopening")
		for ch = nil; ch == nil; {
			select {
			case <-ctx.Done():
				return
			case <-time.After(resyncDelay):
			}
			var err error
			if ch, err = s.kv.Watch(ctx, "b."); err != nil {
				s.log.Warn("rank: reopening board watch", slog.Any("error", err))
			}
		}
	}
}

// applyBoard applies a change of board id.
func (s *Module) applyBoard(id string, c *store.Change) {
	if c.Deleted {
		s.mu.Lock()
		delete(s.boards, id)
		s.mu.Unlock()
		return
	}
	var p rankpb.BoardConfig
	if err := proto.Unmarshal(c.Value, &p); err != nil {
		s.log.Warn("rank: skipping a corrupt board", slog.String("board", id), slog.Any("error", err))
		return
	}
	if _, err := s.addBoard(configFromPB(&p)); err != nil {
		s.log.Warn("rank: skipping an invalid board", slog.String("board", id), slog.Any("error", err))
	}
}

// sweepBoards drops the boards that are not in seen.
func (s *Module) sweepBoards(seen map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.boards {
		if !seen[id] {
			delete(s.boards, id)
		}
	}
}

// addBoard makes a board known to this instance.
func (s *Module) addBoard(c BoardConfig) (*board, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	b := &board{cfg: c}
	if c.Reset != "" {
		var err error
		if b.sched, err = newSchedule(c.Reset); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.boards[c.ID]; old != nil && old.cfg == c {
		return old, nil
	}
	s.boards[c.ID] = b
	delete(s.deleted, c.ID) // created again: its records are its own now
	return b, nil
}

// CreateBoard creates a board, visible to every instance. Creating a
// board that exists with the same configuration does nothing; with
// another configuration it fails with ErrBoardConflict (delete it first,
// or use a new ID).
func (s *Module) CreateBoard(ctx context.Context, c BoardConfig) error {
	if err := c.Validate(); err != nil {
		return ErrBadBoard.WithMsg(err.Error())
	}
	data, err := proto.Marshal(c.toPB())
	if err != nil {
		return err
	}
	if _, err := s.kv.Create(ctx, "b."+c.ID, data); err != nil {
		if !errors.Is(err, store.ErrExists) {
			return err
		}
		e, err := s.kv.Get(ctx, "b."+c.ID)
		if err != nil {
			return err
		}
		var p rankpb.BoardConfig
		if err := proto.Unmarshal(e.Value, &p); err != nil || configFromPB(&p) != c {
			return ErrBoardConflict
		}
	}
	_, err = s.addBoard(c)
	return err
}

// DeleteBoard deletes a board and all its records.
func (s *Module) DeleteBoard(ctx context.Context, id string) error {
	b, err := s.board(id)
	if err != nil {
		return err
	}
	if err := s.kv.Delete(ctx, "b."+id); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.boards, id)
	s.mu.Unlock()
	err = s.backend.Expire(ctx, &b.cfg, math.MaxInt64)
	if errors.Is(err, ErrExpireInProgress) {
		// Another instance is dropping some of its periods; Maintain
		// tries again until they are gone (or that claim is stale).
		s.mu.Lock()
		if s.boards[id] == nil {
			if s.deleted == nil {
				s.deleted = map[string]*BoardConfig{}
			}
			s.deleted[id] = &b.cfg
		}
		s.mu.Unlock()
		return nil
	}
	return err
}

func (s *Module) board(id string) (*board, error) {
	s.mu.RLock()
	b := s.boards[id]
	s.mu.RUnlock()
	if b == nil {
		return nil, ErrBoardNotFound
	}
	return b, nil
}

// BoardInfo is a board's configuration, current period and size.
type BoardInfo struct {
	Config BoardConfig
	Period Period
	Total  int64
}

// Board returns a board's configuration, current period and size.
func (s *Module) Board(ctx context.Context, id string) (BoardInfo, error) {
	b, err := s.board(id)
	if err != nil {
		return BoardInfo{}, err
	}
	p := b.period(s.clock())
	n, err := s.backend.Count(ctx, s.scope(b, p))
	return BoardInfo{Config: b.cfg, Period: p, Total: n}, err
}

// BoardIDs returns the IDs of the boards, sorted.
func (s *Module) BoardIDs() []string {
	s.mu.RLock()
	ids := make([]string, 0, len(s.boards))
	for id := range s.boards {
		ids = append(ids, id)
	}
	s.mu.RUnlock()
	slices.Sort(ids)
	return ids
}

func (s *Module) scope(b *board, p Period) Scope {
	return Scope{Board: &b.cfg, Period: p.Start, Expires: b.sched.expiry(p)}
}

// resolve returns a board's scope for a query of the current or the
// previous period.
func (s *Module) resolve(id string, previous bool) (Scope, Period, error) {
	b, err := s.board(id)
	if err != nil {
		return Scope{}, Period{}, err
	}
	p := b.period(s.clock())
	if previous {
		if b.sched == nil {
			return Scope{}, Period{}, ErrNoPrevious
		}
		p = b.sched.previous(p)
	}
	return s.scope(b, p), p, nil
}

// Submit submits a score for sub.Owner in the board's current period and
// returns the record with its rank, and the period.
func (s *Module) Submit(ctx context.Context, boardID string, sub Submission) (Record, Period, error) {
	b, err := s.board(boardID)
	if err != nil {
		return Record{}, Period{}, err
	}
	if err := s.checkSubmission(&b.cfg, &sub); err != nil {
		return Record{}, Period{}, err
	}
	now := s.clock()
	p := b.period(now)
	r, err := s.backend.Submit(ctx, s.scope(b, p), sub, now)
	return r, p, err
}

func (s *Module) checkSubmission(b *BoardConfig, sub *Submission) error {
	if sub.Metadata != "" {
		if !b.Metadata {
			return ErrMetadataDenied
		}
		if len(sub.Metadata) > s.cfg.MetadataLimit {
			return ErrMetadataSize.WithMsg(fmt.Sprintf("rank: metadata longer than %d bytes", s.cfg.MetadataLimit))
		}
		if !utf8.ValidString(sub.Metadata) {
			return errs.ErrValidation.WithMsg("rank: metadata must be UTF-8 text")
		}
	}
	if len(sub.Name) > MaxNameLen || !utf8.ValidString(sub.Name) {
		return errs.ErrValidation.WithMsg("rank: display name must be UTF-8, at most 64 bytes")
	}
	return nil
}

// Page is a page of records with the period it belongs to.
type Page struct {
	Records []Record
	// Next is the cursor of the following page; empty on the last.
	Next   string
	Total  int64
	Period Period
}

func (s *Module) page(ctx context.Context, sc Scope, p Period, recs []Record) (Page, error) {
	n, err := s.backend.Count(ctx, sc)
	return Page{Records: recs, Total: n, Period: p}, err
}

// Top returns a page of a board from the first rank, or after the
// cursor of a previous page. limit is clamped to 1..100.
func (s *Module) Top(ctx context.Context, boardID string, previous bool, cursor string, limit int) (Page, error) {
	sc, p, err := s.resolve(boardID, previous)
	if err != nil {
		return Page{}, err
	}
	var after *Record
	if cursor != "" {
		period, r, ok := decodeCursor(cursor)
		if !ok || period != sc.Period {
			return Page{}, ErrCursor
		}
		after = &r
	}
	limit = clampLimit(limit)
	recs, err := s.backend.Top(ctx, sc, after, limit+1)
	if err != nil {
		return Page{}, err
	}
	pg, err := s.page(ctx, sc, p, recs)
	if len(recs) > limit {
		pg.Records = recs[:limit]
		pg.Next = encodeCursor(sc.Period, &recs[limit-1])
	}
	return pg, err
}

// Rank returns the owner's record with its rank, or found false.
func (s *Module) Rank(ctx context.Context, boardID string, previous bool, owner int64) (Page, error) {
	sc, p, err := s.resolve(boardID, previous)
	if err != nil {
		return Page{}, err
	}
	r, found, err := s.backend.Get(ctx, sc, owner)
	if err != nil {
		return Page{}, err
	}
	var recs []Record
	if found {
		recs = []Record{r}
	}
	return s.page(ctx, sc, p, recs)
}

// Around returns up to limit records around the owner's rank (clamped to
// 1..100); none when the owner has no record.
func (s *Module) Around(ctx context.Context, boardID string, previous bool, owner int64, limit int) (Page, error) {
	sc, p, err := s.resolve(boardID, previous)
	if err != nil {
		return Page{}, err
	}
	recs, err := s.backend.Around(ctx, sc, owner, clampLimit(limit))
	if err != nil {
		return Page{}, err
	}
	return s.page(ctx, sc, p, recs)
}

// MaxOwners is the most owners one Owners query lists.
const MaxOwners = 100

// Owners returns the records of the given owners, in rank order.
func (s *Module) Owners(ctx context.Context, boardID string, previous bool, owners []int64) (Page, error) {
	if len(owners) > MaxOwners {
		return Page{}, errs.ErrValidation.WithMsg("rank: at most 100 owners")
	}
	sc, p, err := s.resolve(boardID, previous)
	if err != nil {
		return Page{}, err
	}
	recs, err := s.backend.Owners(ctx, sc, owners)
	if err != nil {
		return Page{}, err
	}
	return s.page(ctx, sc, p, recs)
}

// Remove deletes the owner's record in the board's current period.
func (s *Module) Remove(ctx context.Context, boardID string, owner int64) error {
	sc, _, err := s.resolve(boardID, false)
	if err != nil {
		return err
	}
	return s.backend.Remove(ctx, sc, owner)
}

func clampLimit(n int) int {
	switch {
	case n <= 0:
		return 10
	case n > 100:
		return 100
	}
	return n
}

// Maintain drops the periods that are older than the previous one, on
// every board, and the records of boards deleted while another instance
// was dropping some of their periods; the service runs it every
// ExpireInterval, and tests call it after moving the clock.
func (s *Module) Maintain(ctx context.Context) error {
	s.mu.RLock()
	boards := make([]*board, 0, len(s.boards))
	for _, b := range s.boards {
		if b.sched != nil {
			boards = append(boards, b)
		}
	}
	deleted := make([]*BoardConfig, 0, len(s.deleted))
	for _, c := range s.deleted {
		deleted = append(deleted, c)
	}
	s.mu.RUnlock()
	var errList []error
	for _, c := range deleted {
		switch err := s.backend.Expire(ctx, c, math.MaxInt64); {
		case errors.Is(err, ErrExpireInProgress):
		case err != nil:
			errList = append(errList, fmt.Errorf("rank: drop deleted board %s: %w", c.ID, err))
		default:
			s.mu.Lock()
			if s.deleted[c.ID] == c {
				delete(s.deleted, c.ID)
			}
			s.mu.Unlock()
		}
	}
	now := s.clock()
	for _, b := range boards {
		p := b.period(now)
		if p.PreviousStart == 0 || b.expired.Load() >= p.PreviousStart {
			continue
		}
		switch err := s.backend.Expire(ctx, &b.cfg, p.PreviousStart); {
		case errors.Is(err, ErrExpireInProgress):
			continue // another instance is on it; see again next time
		case err != nil:
			errList = append(errList, fmt.Errorf("rank: expire %s: %w", b.cfg.ID, err))
			continue
		}
		b.expired.Store(p.PreviousStart)
	}
	return errors.Join(errList...)
}

func (s *Module) maintainLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.ExpireInterval)
	defer t.Stop()
	for {
		if err := s.Maintain(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("rank: maintenance", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
