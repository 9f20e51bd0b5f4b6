package rank

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The Redis backend keeps a board period in one sorted set and one string
// key per record, all in one hash slot (the {board:period} hash tag):
//
//	<prefix>{<board>:<period>}:z          sorted set of positions
//	<prefix>{<board>:<period>}:r:<owner>  the record (encodeRecord)
//	<prefix>periods:<board>               set of the board's periods
//
// Every member of the sorted set has score 0 and is the 32-byte position
// of a record (encodeKey): score, subscore, update time and owner, each
// big-endian with the sign bit flipped, score and subscore inverted (^x)
// on a descending board. Redis orders members of equal score by their
// bytes, so the set's order is the board's order, ties included, with no
// float64 precision loss: ZRANK is the rank, ZRANGE by index is a page
// and ZRANGEBYLEX after a member is the page after a cursor.
//
// A submit runs as an optimistic transaction (WATCH the record key, and
// the set too when the board has a maximum size; MULTI; SET, ZREM the old
// position, ZADD the new one, EXPIREAT; EXEC), so the operators are
// correct under concurrent submits from any number of instances.

// DefaultRedisPrefix prefixes every key of the Redis backend.
const DefaultRedisPrefix = "iogo:rank:"

type redisBoards struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewRedisBoards returns a Boards backend on Redis sorted sets; prefix
// ("" for DefaultRedisPrefix) starts every key. Close does not close rdb.
func NewRedisBoards(rdb redis.UniversalClient, prefix string) Boards {
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	return &redisBoards{rdb: rdb, prefix: prefix}
}

func (r *redisBoards) tag(board string, period int64) string {
	return r.prefix + "{" + board + ":" + strconv.FormatInt(period, 10) + "}"
}

func (r *redisBoards) zKey(s Scope) string { return r.tag(s.Board.ID, s.Period) + ":z" }

func (r *redisBoards) recKey(s Scope, owner int64) string {
	return r.tag(s.Board.ID, s.Period) + ":r:" + strconv.FormatInt(owner, 10)
}

func (r *redisBoards) periodsKey(board string) string { return r.prefix + "periods:" + board }

func member(rec *Record, s Sort) string { return string(encodeKey(rec.key(s))) }

// maxTxRetries bounds the retries of a transaction that keeps losing.
const maxTxRetries = 1000

func (r *redisBoards) Submit(ctx context.Context, s Scope, sub Submission, now time.Time) (Record, error) {
	rk, zk := r.recKey(s, sub.Owner), r.zKey(s)
	keys := []string{rk}
	if s.Board.MaxEntries > 0 {
		keys = append(keys, zk)
	}
	srt := s.Board.Sort
	for range maxTxRetries {
		var out Record
		created := false
		err := r.rdb.Watch(ctx, func(tx *redis.Tx) error {
			cur, err := r.getRecord(ctx, tx, rk, sub.Owner)
			if err != nil {
				return err
			}
			next, changed, err := apply(s.Board, cur, sub, now)
			if err != nil {
				return err
			}
			if !changed {
				rank, err := tx.ZRank(ctx, zk, member(cur, srt)).Result()
				if errors.Is(err, redis.Nil) {
					return redis.TxFailedErr // the record moved since it was read
				}
				if err != nil {
					return err
				}
				out, out.Rank = *cur, rank+1
				return nil
			}
			m := member(&next, srt)
			var evict []string
			if s.Board.MaxEntries > 0 && cur == nil {
				n, err := tx.ZCard(ctx, zk).Result()
				if err != nil {
					return err
				}
				if n >= s.Board.MaxEntries {
					tail, err := tx.ZRange(ctx, zk, s.Board.MaxEntries-1, -1).Result()
					if err != nil {
						return err
					}
					if len(tail) > 0 && m >= tail[len(tail)-1] {
						return ErrBoardFull
					}
					evict = tail
				}
			}
			var rank *redis.IntCmd
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, rk, encodeRecord(nil, &next, srt), 0)
				if cur != nil {
					p.ZRem(ctx, zk, member(cur, srt))
				}
				p.ZAdd(ctx, zk, redis.Z{Member: m})
				for _, e := range evict {
					if k, ok := decodeKey([]byte(e)); ok {
						p.ZRem(ctx, zk, e)
						p.Del(ctx, r.recKey(s, k.D))
					}
				}
				if !s.Expires.IsZero() {
					p.ExpireAt(ctx, rk, s.Expires)
					p.ExpireAt(ctx, zk, s.Expires)
				}
				rank = p.ZRank(ctx, zk, m)
				return nil
			})
			if err != nil {
				return err
			}
			out, out.Rank = next, rank.Val()+1
			created = cur == nil
			return nil
		}, keys...)
		switch {
		case err == nil:
			if created {
				// Outside the transaction: another hash slot.
				if err := r.rdb.SAdd(ctx, r.periodsKey(s.Board.ID), s.Period).Err(); err != nil {
					return out, err
				}
			}
			return out, nil
		case errors.Is(err, redis.TxFailedErr):
			if ctx.Err() != nil {
				return Record{}, ctx.Err()
			}
		default:
			return Record{}, err
		}
	}
	return Record{}, errors.New("rank: redis: too much contention on one record")
}

func (r *redisBoards) getRecord(ctx context.Context, c redis.Cmdable, key string, owner int64) (*Record, error) {
	raw, err := c.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rec, _, err := decodeRecord(raw, owner)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, key)
	}
	return &rec, nil
}

// records loads the records of the given members, ranked from first.
func (r *redisBoards) records(ctx context.Context, s Scope, members []string, first int64) ([]Record, error) {
	if len(members) == 0 {
		return nil, nil
	}
	keys := make([]string, len(members))
	owners := make([]int64, len(members))
	for i, m := range members {
		k, ok := decodeKey([]byte(m))
		if !ok {
			return nil, fmt.Errorf("%w: member of %s", errCorrupt, r.zKey(s))
		}
		owners[i], keys[i] = k.D, r.recKey(s, k.D)
	}
	vals, err := r.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(members))
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue // removed since the range was read
		}
		rec, _, err := decodeRecord([]byte(str), owners[i])
		if err != nil {
			return nil, fmt.Errorf("%w: %s", err, keys[i])
		}
		rec.Rank = first + int64(i)
		out = append(out, rec)
	}
	return out, nil
}

func (r *redisBoards) Top(ctx context.Context, s Scope, after *Record, limit int) ([]Record, error) {
	if limit <= 0 {
		return nil, nil
	}
	zk := r.zKey(s)
	if after == nil {
		ms, err := r.rdb.ZRange(ctx, zk, 0, int64(limit)-1).Result()
		if err != nil {
			return nil, err
		}
		return r.records(ctx, s, ms, 1)
	}
	m := member(after, s.Board.Sort)
	var before *redis.IntCmd
	var page *redis.StringSliceCmd
	if _, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		before = p.ZLexCount(ctx, zk, "-", "["+m)
		page = p.ZRangeByLex(ctx, zk, &redis.ZRangeBy{Min: "(" + m, Max: "+", Count: int64(limit)})
		return nil
	}); err != nil {
		return nil, err
	}
	return r.records(ctx, s, page.Val(), before.Val()+1)
}

// position returns the owner's record and rank, or nil.
func (r *redisBoards) position(ctx context.Context, s Scope, owner int64) (*Record, int64, error) {
	rec, err := r.getRecord(ctx, r.rdb, r.recKey(s, owner), owner)
	if err != nil || rec == nil {
		return nil, 0, err
	}
	rank, err := r.rdb.ZRank(ctx, r.zKey(s), member(rec, s.Board.Sort)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, 0, nil // changed since read
	}
	if err != nil {
		return nil, 0, err
	}
	rec.Rank = rank + 1
	return rec, rank + 1, nil
}

func (r *redisBoards) Get(ctx context.Context, s Scope, owner int64) (Record, bool, error) {
	rec, _, err := r.position(ctx, s, owner)
	if err != nil || rec == nil {
		return Record{}, false, err
	}
	return *rec, true, nil
}

func (r *redisBoards) Around(ctx context.Context, s Scope, owner int64, limit int) ([]Record, error) {
	rec, rank, err := r.position(ctx, s, owner)
	if err != nil || rec == nil || limit <= 0 {
		return nil, err
	}
	zk := r.zKey(s)
	n, err := r.rdb.ZCard(ctx, zk).Result()
	if err != nil {
		return nil, err
	}
	start := window(rank, n, limit)
	ms, err := r.rdb.ZRange(ctx, zk, start-1, start-1+int64(limit)-1).Result()
	if err != nil {
		return nil, err
	}
	return r.records(ctx, s, ms, start)
}

func (r *redisBoards) Owners(ctx context.Context, s Scope, owners []int64) ([]Record, error) {
	owners = slices.Clone(owners)
	slices.Sort(owners)
	owners = slices.Compact(owners)
	if len(owners) == 0 {
		return nil, nil
	}
	keys := make([]string, len(owners))
	for i, o := range owners {
		keys[i] = r.recKey(s, o)
	}
	vals, err := r.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	var recs []Record
	ranks := map[int]*redis.IntCmd{}
	zk := r.zKey(s)
	if _, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, v := range vals {
			str, ok := v.(string)
			if !ok {
				continue
			}
			rec, _, err := decodeRecord([]byte(str), owners[i])
			if err != nil {
				return fmt.Errorf("%w: %s", err, keys[i])
			}
			ranks[len(recs)] = p.ZRank(ctx, zk, member(&rec, s.Board.Sort))
			recs = append(recs, rec)
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := recs[:0]
	for i := range recs {
		rank, err := ranks[i].Result()
		if err != nil {
			continue // moved since read
		}
		recs[i].Rank = rank + 1
		out = append(out, recs[i])
	}
	slices.SortFunc(out, func(a, b Record) int { return int(a.Rank - b.Rank) })
	return out, nil
}

func (r *redisBoards) Count(ctx context.Context, s Scope) (int64, error) {
	return r.rdb.ZCard(ctx, r.zKey(s)).Result()
}

func (r *redisBoards) Remove(ctx context.Context, s Scope, owner int64) error {
	rk, zk := r.recKey(s, owner), r.zKey(s)
	for range maxTxRetries {
		err := r.rdb.Watch(ctx, func(tx *redis.Tx) error {
			cur, err := r.getRecord(ctx, tx, rk, owner)
			if err != nil || cur == nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Del(ctx, rk)
				p.ZRem(ctx, zk, member(cur, s.Board.Sort))
				return nil
			})
			return err
		}, rk)
		if !errors.Is(err, redis.TxFailedErr) {
			return err
		}
	}
	return errors.New("rank: redis: too much contention on one record")
}

// dropBatch is how many keys one DEL removes when a period is dropped.
const dropBatch = 512

func (r *redisBoards) Expire(ctx context.Context, board *BoardConfig, before int64) error {
	pk := r.periodsKey(board.ID)
	periods, err := r.rdb.SMembers(ctx, pk).Result()
	if err != nil {
		return err
	}
	for _, ps := range periods {
		p, err := strconv.ParseInt(ps, 10, 64)
		if err != nil || p >= before {
			continue
		}
		s := Scope{Board: board, Period: p}
		zk := r.zKey(s)
		for {
			ms, err := r.rdb.ZRange(ctx, zk, 0, dropBatch-1).Result()
			if err != nil {
				return err
			}
			if len(ms) == 0 {
				break
			}
			keys := make([]string, 0, len(ms))
			args := make([]any, 0, len(ms))
			for _, m := range ms {
				if k, ok := decodeKey([]byte(m)); ok {
					keys = append(keys, r.recKey(s, k.D))
				}
				args = append(args, m)
			}
			if _, err := r.rdb.TxPipelined(ctx, func(pp redis.Pipeliner) error {
				pp.Del(ctx, keys...)
				pp.ZRem(ctx, zk, args...)
				return nil
			}); err != nil {
				return err
			}
		}
		if err := r.rdb.SRem(ctx, pk, ps).Err(); err != nil {
			return err
		}
	}
	return nil
}

func (r *redisBoards) Close() error { return nil }
