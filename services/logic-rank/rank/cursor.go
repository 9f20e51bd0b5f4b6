package rank

import (
	"encoding/base64"
	"encoding/binary"
)

// A cursor is the position of the last record of a page, with its
// period: 40 bytes (period, score, subscore, update time, owner) in
// unpadded base64url. The next page starts at the first record that ranks
// after that position, so records that do not move are neither repeated
// nor skipped, whatever changes elsewhere on the board.
const cursorLen = 40

func encodeCursor(period int64, r *Record) string {
	var b [cursorLen]byte
	for i, v := range [5]int64{period, r.Score, r.Subscore, r.Updated, r.Owner} {
		binary.BigEndian.PutUint64(b[i*8:], uint64(v))
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func decodeCursor(s string) (period int64, r Record, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != cursorLen {
		return 0, Record{}, false
	}
	var v [5]int64
	for i := range v {
		v[i] = int64(binary.BigEndian.Uint64(b[i*8:]))
	}
	return v[0], Record{Score: v[1], Subscore: v[2], Updated: v[3], Owner: v[4]}, true
}
