package rank

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/iogo-dev/iogo/services/logic-rank/internal/ostree"
)

// Submission is a score submitted for an owner.
type Submission struct {
	// Owner is the record's owner, a userID.
	Owner int64
	// Name is the owner's display name; empty keeps the record's.
	Name string
	// Score and Subscore combine with the record by the board's operator.
	Score, Subscore int64
	// Metadata is stored with the record when the submission changes it;
	// empty keeps the record's.
	Metadata string
}

// Record is an owner's entry in one period of a board.
type Record struct {
	Owner           int64
	Name            string
	Score, Subscore int64
	Metadata        string
	// Rank is the 1-based position in the period; 0 when not computed.
	Rank int64
	// Submissions counts the submissions that changed the record.
	Submissions int64
	// Created and Updated are Unix milliseconds; Updated breaks ties
	// between equal scores (earlier first), then Owner (lower first).
	Created, Updated int64
}

// key returns the record's position in a board of the given order: the
// index sorts keys ascending, so a descending board stores ^score, which
// reverses the order of signed integers without overflow.
func (r *Record) key(s Sort) ostree.Key {
	k := ostree.Key{A: r.Score, B: r.Subscore, C: r.Updated, D: r.Owner}
	if s == Descending {
		k.A, k.B = ^k.A, ^k.B
	}
	return k
}

// better reports whether (s, sub) ranks before (s2, sub2) in order o.
func better(o Sort, s, sub, s2, sub2 int64) bool {
	if o == Descending {
		return s > s2 || s == s2 && sub > sub2
	}
	return s < s2 || s == s2 && sub < sub2
}

// apply combines sub with the current record (nil when the owner has
// none) at time now and returns the new record, or changed false when a
// Best submission does not beat the record.
func apply(b *BoardConfig, cur *Record, sub Submission, now time.Time) (next Record, changed bool, err error) {
	ms := now.UnixMilli()
	if cur == nil {
		next = Record{Owner: sub.Owner, Name: sub.Name, Score: sub.Score, Subscore: sub.Subscore,
			Metadata: sub.Metadata, Submissions: 1, Created: ms, Updated: ms}
		if b.Operator == Decr {
			if sub.Score == math.MinInt64 || sub.Subscore == math.MinInt64 {
				return Record{}, false, ErrScoreRange
			}
			next.Score, next.Subscore = -sub.Score, -sub.Subscore
		}
		return next, true, nil
	}
	next = *cur
	next.Rank = 0
	switch b.Operator {
	case Best:
		if !better(b.Sort, sub.Score, sub.Subscore, cur.Score, cur.Subscore) {
			return *cur, false, nil
		}
		next.Score, next.Subscore = sub.Score, sub.Subscore
	case Set:
		next.Score, next.Subscore = sub.Score, sub.Subscore
	case Incr, Decr:
		s, ss := sub.Score, sub.Subscore
		if b.Operator == Decr {
			if s == math.MinInt64 || ss == math.MinInt64 {
				return Record{}, false, ErrScoreRange
			}
			s, ss = -s, -ss
		}
		var ok1, ok2 bool
		next.Score, ok1 = add(cur.Score, s)
		next.Subscore, ok2 = add(cur.Subscore, ss)
		if !ok1 || !ok2 {
			return Record{}, false, ErrScoreRange
		}
	}
	if sub.Name != "" {
		next.Name = sub.Name
	}
	if sub.Metadata != "" {
		next.Metadata = sub.Metadata
	}
	next.Submissions++
	next.Updated = max(ms, cur.Updated)
	return next, true, nil
}

func add(a, b int64) (int64, bool) {
	c := a + b
	if (c > a) != (b > 0) {
		return 0, false
	}
	return c, true
}

// The stored form of a record, the value of its key in store.KV and Redis:
//
//	version 1 | flags | zigzag score | zigzag subscore | created | updated |
//	submissions | len name | name | len metadata | metadata
//
// as varints. The owner and period are in the key. flags bit 0 marks a
// descending board, so an index can be built from records alone.
const recordVersion = 1

const flagDesc = 1

func encodeRecord(buf []byte, r *Record, s Sort) []byte {
	var flags byte
	if s == Descending {
		flags |= flagDesc
	}
	buf = append(buf, recordVersion, flags)
	buf = binary.AppendVarint(buf, r.Score)
	buf = binary.AppendVarint(buf, r.Subscore)
	buf = binary.AppendVarint(buf, r.Created)
	buf = binary.AppendVarint(buf, r.Updated)
	buf = binary.AppendVarint(buf, r.Submissions)
	buf = binary.AppendUvarint(buf, uint64(len(r.Name)))
	buf = append(buf, r.Name...)
	buf = binary.AppendUvarint(buf, uint64(len(r.Metadata)))
	buf = append(buf, r.Metadata...)
	return buf
}

var errCorrupt = errors.New("rank: corrupt record")

func decodeRecord(b []byte, owner int64) (Record, Sort, error) {
	if len(b) < 2 || b[0] != recordVersion {
		return Record{}, 0, fmt.Errorf("%w: version", errCorrupt)
	}
	s := Ascending
	if b[1]&flagDesc != 0 {
		s = Descending
	}
	b = b[2:]
	r := Record{Owner: owner}
	for _, p := range []*int64{&r.Score, &r.Subscore, &r.Created, &r.Updated, &r.Submissions} {
		v, n := binary.Varint(b)
		if n <= 0 {
			return Record{}, 0, errCorrupt
		}
		*p, b = v, b[n:]
	}
	for _, p := range []*string{&r.Name, &r.Metadata} {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return Record{}, 0, errCorrupt
		}
		*p, b = string(b[n:n+int(l)]), b[n+int(l):]
	}
	return r, s, nil
}

// encodeKey renders a sort key as 32 bytes whose byte order is the key
// order: each field big-endian with its sign bit flipped. Redis sorts the
// members of a sorted set with equal scores this way (memcmp).
func encodeKey(k ostree.Key) []byte {
	b := make([]byte, 32)
	for i, v := range [4]int64{k.A, k.B, k.C, k.D} {
		binary.BigEndian.PutUint64(b[i*8:], uint64(v)^(1<<63))
	}
	return b
}

// decodeKey is the inverse of encodeKey.
func decodeKey(b []byte) (ostree.Key, bool) {
	if len(b) != 32 {
		return ostree.Key{}, false
	}
	var v [4]int64
	for i := range v {
		v[i] = int64(binary.BigEndian.Uint64(b[i*8:]) ^ (1 << 63))
	}
	return ostree.Key{A: v[0], B: v[1], C: v[2], D: v[3]}, true
}
