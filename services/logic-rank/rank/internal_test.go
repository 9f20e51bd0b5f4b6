package rank

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/services/logic-rank/internal/ostree"
)

func TestPeriods(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name, spec, now         string
		start, next, prev       string
		previousStart, prevNext string
	}{
		{"weekly monday", "0 0 * * 1", "2030-01-09T15:04:05Z", "2030-01-07T00:00:00Z", "2030-01-14T00:00:00Z", "2029-12-31T00:00:00Z", "", ""},
		{"exactly at reset", "@daily", "2030-01-09T00:00:00Z", "2030-01-09T00:00:00Z", "2030-01-10T00:00:00Z", "2030-01-08T00:00:00Z", "", ""},
		{"second before reset", "@daily", "2030-01-08T23:59:59Z", "2030-01-08T00:00:00Z", "2030-01-09T00:00:00Z", "2030-01-07T00:00:00Z", "", ""},
		{"with seconds", "*/10 * * * * *", "2030-01-09T00:00:25Z", "2030-01-09T00:00:20Z", "2030-01-09T00:00:30Z", "2030-01-09T00:00:10Z", "", ""},
		{"yearly", "@yearly", "2030-06-01T00:00:00Z", "2030-01-01T00:00:00Z", "2031-01-01T00:00:00Z", "2029-01-01T00:00:00Z", "", ""},
		{"time zone", "CRON_TZ=Asia/Tokyo 0 0 * * *", "2030-01-09T14:00:00Z", "2030-01-08T15:00:00Z", "2030-01-09T15:00:00Z", "2030-01-07T15:00:00Z", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := newSchedule(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			p := s.periodAt(utc(tt.now))
			want := Period{Start: utc(tt.start).Unix(), NextReset: utc(tt.next).Unix(), PreviousStart: utc(tt.prev).Unix()}
			if p != want {
				t.Fatalf("period %+v, want %+v", p, want)
			}
			q := s.previous(p)
			if q.Start != p.PreviousStart || q.NextReset != p.Start || q.PreviousStart >= q.Start || q.PreviousStart == 0 {
				t.Fatalf("previous %+v of %+v", q, p)
			}
			if e := s.expiry(p); !e.After(time.Unix(p.NextReset, 0)) {
				t.Fatalf("expiry %v before the next period ends", e)
			}
		})
	}
	var none *schedule
	if p := none.periodAt(time.Now()); p != (Period{}) || !none.expiry(p).IsZero() {
		t.Fatalf("no schedule: %+v", p)
	}
	if _, err := newSchedule("0 0 30 2 *"); err == nil {
		t.Fatal("a schedule that never fires was accepted")
	}
}

func TestBoardConfig(t *testing.T) {
	tests := []struct {
		name string
		spec string
		ok   bool
		n    int
	}{
		{"array", `[{"id":"a","sort":"asc","operator":"incr","reset":"@weekly","metadata":true,"max_entries":10},{"id":"b"}]`, true, 2},
		{"one object", `{"id":"weekly_1"}`, true, 1},
		{"empty", ``, true, 0},
		{"bad id", `[{"id":"a.b"}]`, false, 0},
		{"long id", `[{"id":"` + strings.Repeat("x", 65) + `"}]`, false, 0},
		{"bad sort", `[{"id":"a","sort":"up"}]`, false, 0},
		{"bad operator", `[{"id":"a","operator":"max"}]`, false, 0},
		{"bad cron", `[{"id":"a","reset":"every day"}]`, false, 0},
		{"negative max", `[{"id":"a","max_entries":-1}]`, false, 0},
		{"unknown field", `[{"id":"a","sortt":"asc"}]`, false, 0},
		{"duplicate", `[{"id":"a"},{"id":"a"}]`, false, 0},
		{"missing file", `/nonexistent/boards.json`, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBoards(tt.spec)
			if (err == nil) != tt.ok || len(got) != tt.n {
				t.Fatalf("got %+v, %v", got, err)
			}
			for _, c := range got {
				if back := configFromPB(c.toPB()); back != c {
					t.Fatalf("wire round trip %+v -> %+v", c, back)
				}
			}
		})
	}
}

func TestRecordEncoding(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		rec := Record{Owner: r.Int64() - math.MaxInt64/2, Score: r.Int64() - math.MaxInt64/2, Subscore: int64(i) - 100,
			Created: r.Int64N(1 << 45), Updated: r.Int64N(1 << 45), Submissions: r.Int64N(99), Name: "n", Metadata: strings.Repeat("m", i)}
		for _, s := range []Sort{Descending, Ascending} {
			got, gs, err := decodeRecord(encodeRecord(nil, &rec, s), rec.Owner)
			if err != nil || got != rec || gs != s {
				t.Fatalf("round trip %+v -> %+v %v %v", rec, got, gs, err)
			}
		}
	}
	for _, bad := range [][]byte{nil, {9, 0}, {1, 0, 2}, encodeRecord(nil, &Record{Name: "abc"}, Ascending)[:8]} {
		if _, _, err := decodeRecord(bad, 1); err == nil {
			t.Fatalf("decoded %v", bad)
		}
	}
}

// The 32-byte member encoding sorts like the keys it encodes.
func TestKeyEncodingOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	edge := []int64{math.MinInt64, -1, 0, 1, math.MaxInt64}
	pick := func() int64 {
		if r.IntN(3) == 0 {
			return edge[r.IntN(len(edge))]
		}
		return r.Int64() - math.MaxInt64/2
	}
	for range 5000 {
		a := Record{Score: pick(), Subscore: pick(), Updated: pick(), Owner: pick()}
		b := Record{Score: pick(), Subscore: pick(), Updated: pick(), Owner: pick()}
		if r.IntN(2) == 0 {
			b.Score = a.Score
		}
		for _, s := range []Sort{Descending, Ascending} {
			ka, kb := a.key(s), b.key(s)
			if ka.Less(kb) != (string(encodeKey(ka)) < string(encodeKey(kb))) {
				t.Fatalf("order differs for %+v %+v", a, b)
			}
			if back, ok := decodeKey(encodeKey(ka)); !ok || back != ka {
				t.Fatal("decodeKey")
			}
			// Desc: the better score sorts first.
			if a.Score != b.Score && s == Descending && (a.Score > b.Score) != ka.Less(kb) {
				t.Fatalf("descending order wrong for %d %d", a.Score, b.Score)
			}
		}
	}
}

func TestCursor(t *testing.T) {
	r := Record{Owner: -5, Score: math.MinInt64, Subscore: 7, Updated: 1 << 40}
	p, got, ok := decodeCursor(encodeCursor(1234, &r))
	if !ok || p != 1234 || got.Owner != r.Owner || got.Score != r.Score || got.Subscore != r.Subscore || got.Updated != r.Updated {
		t.Fatalf("round trip: %d %+v %v", p, got, ok)
	}
	for _, bad := range []string{"", "!!", "AAAA"} {
		if _, _, ok := decodeCursor(bad); ok {
			t.Fatalf("decoded %q", bad)
		}
	}
}

func TestWindow(t *testing.T) {
	tests := []struct {
		r, n  int64
		limit int
		want  int64
	}{
		{10, 20, 5, 8}, {1, 20, 5, 1}, {20, 20, 5, 16}, {3, 3, 10, 1}, {10, 20, 1, 10}, {10, 20, 2, 10},
	}
	for _, tt := range tests {
		if got := window(tt.r, tt.n, tt.limit); got != tt.want {
			t.Errorf("window(%d, %d, %d) = %d, want %d", tt.r, tt.n, tt.limit, got, tt.want)
		}
	}
}

func TestApplyNewDecr(t *testing.T) {
	b := &BoardConfig{Operator: Decr}
	if _, _, err := apply(b, nil, Submission{Score: math.MinInt64}, time.Now()); err == nil {
		t.Fatal("negating MinInt64 accepted")
	}
	r, ok, err := apply(b, nil, Submission{Score: 4, Subscore: -1}, time.UnixMilli(5))
	if err != nil || !ok || r.Score != -4 || r.Subscore != 1 || r.Updated != 5 {
		t.Fatalf("%+v %v %v", r, ok, err)
	}
}

// TestIndexRemoveKeepsLateWritesOut: a record removed here (Remove) stays
// out while older watch events of it are still arriving, comes back with a
// newer write, and the delete's own event ends the guard.
func TestIndexRemoveKeepsLateWritesOut(t *testing.T) {
	const owner = 7
	rec := func(score int64) Record { return Record{Owner: owner, Score: score} }
	steps := []struct {
		name    string
		do      func(x *index)
		present bool
	}{
		{"written", func(x *index) { x.put(rec(1), 5) }, true},
		{"removed here", func(x *index) { x.remove(owner, 0) }, false},
		{"the write's late event", func(x *index) { x.put(rec(1), 5) }, false},
		{"an older event", func(x *index) { x.put(rec(0), 3) }, false},
		{"the delete's event", func(x *index) { x.remove(owner, 6) }, false},
		{"a newer write", func(x *index) { x.put(rec(2), 8) }, true},
	}
	x := &index{sort: Descending, tree: ostree.New[*entry](), owners: map[int64]*entry{}}
	for _, st := range steps {
		st.do(x)
		if _, got := x.owners[owner]; got != st.present || x.tree.Len() != len(x.owners) {
			t.Fatalf("after %s: present %v (tree %d), want %v", st.name, got, x.tree.Len(), st.present)
		}
	}
	if len(x.gone) != 0 {
		t.Fatalf("guard left after the delete's event: %v", x.gone)
	}
}
