package rank

import (
	"context"
	"errors"
	"time"
)

// Scope is the board period a [Boards] call acts on.
type Scope struct {
	// Board is the board's configuration; it does not change while the
	// board exists.
	Board *BoardConfig
	// Period is the period's start in Unix seconds, 0 for a board that
	// never resets.
	Period int64
	// Expires, on writes, is when the period's records may be dropped;
	// zero: never. Backends with key expiry (Redis) use it; the others
	// drop old periods when told to (Boards.Expire).
	Expires time.Time
}

// Boards stores the records of leaderboard periods and ranks them. The
// service keeps board configurations and periods; a Boards only sees
// scopes. Implementations are safe for concurrent use, and every instance
// opened on the same storage sees the others' writes (the KV backend after
// its watch delivers them, Redis at once). Both bundled implementations
// pass the suite in package ranktest.
type Boards interface {
	// Submit combines sub with the owner's record by the board's operator,
	// at time now, and returns the record with its rank. A Best submission
	// that does not beat the record returns the record unchanged.
	// ErrBoardFull when the period holds Board.MaxEntries records and sub
	// would rank after the last.
	Submit(ctx context.Context, s Scope, sub Submission, now time.Time) (Record, error)
	// Top returns up to limit records in rank order, from the first, or
	// from the first that ranks after the position of after (a record
	// returned earlier) when after is not nil.
	Top(ctx context.Context, s Scope, after *Record, limit int) ([]Record, error)
	// Get returns the owner's record with its rank, or found false.
	Get(ctx context.Context, s Scope, owner int64) (rec Record, found bool, err error)
	// Around returns a window of up to limit records in rank order that
	// holds the owner's record in its middle (shifted at the ends of the
	// board); empty when the owner has no record.
	Around(ctx context.Context, s Scope, owner int64, limit int) ([]Record, error)
	// Owners returns the records of the given owners that exist, in rank
	// order.
	Owners(ctx context.Context, s Scope, owners []int64) ([]Record, error)
	// Count returns the number of records.
	Count(ctx context.Context, s Scope) (int64, error)
	// Remove deletes the owner's record; a missing record is not an error.
	Remove(ctx context.Context, s Scope, owner int64) error
	// Expire drops the records of the board's periods that start before
	// the given Unix second (all of them for math.MaxInt64). It returns
	// ErrExpireInProgress when another instance is dropping some of them:
	// call it again later, until it returns nil.
	Expire(ctx context.Context, board *BoardConfig, before int64) error
	// Close releases the backend's resources (not the storage it was given).
	Close() error
}

// ErrExpireInProgress is returned by Boards.Expire when another instance
// has claimed the dropping of some of the periods: not a failure, but not
// done either.
var ErrExpireInProgress = errors.New("rank: another instance is dropping these periods")

// window returns the first rank of a window of limit records around rank
// r on a board of n records.
func window(r, n int64, limit int) int64 {
	start := r - int64(limit-1)/2
	start = min(start, n-int64(limit)+1)
	return max(start, 1)
}
