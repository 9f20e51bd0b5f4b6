// Package storetest is the conformance suite of store.KV implementations,
// in the manner of testing/slogtest: every backend runs it, so modules
// written against store.KV behave the same on each.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Opener { return store.NewJetStream(js) })
//	}
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/store"
)

// Time limits of the suite. They are generous because the race detector and
// a loaded CI machine slow backends down; passing tests never wait for them.
const (
	// stepTimeout bounds one operation or one expected watch event.
	stepTimeout = 10 * time.Second
	// expiryTimeout bounds how long a key with a 1 s TTL may survive.
	expiryTimeout = 20 * time.Second
)

// Run runs the conformance suite against the backend that open returns.
// open is called once per subtest; the Openers it returns may share one
// server, since every subtest opens buckets of its own, with unique names.
func Run(t *testing.T, open func(t *testing.T) store.Opener) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, o store.Opener)
	}{
		{"OpenBadBucket", testOpenBadBucket},
		{"OpenTwice", testOpenTwice},
		{"GetMissing", testGetMissing},
		{"PutGet", testPutGet},
		{"Values", testValues},
		{"Revisions", testRevisions},
		{"Create", testCreate},
		{"Update", testUpdate},
		{"Delete", testDelete},
		{"DeleteRev", testDeleteRev},
		{"DeleteRevRace", testDeleteRevRace},
		{"WriteChain", testWriteChain},
		{"BadKeys", testBadKeys},
		{"GoodKeys", testGoodKeys},
		{"Keys", testKeys},
		{"CreateRace", testCreateRace},
		{"UpdateHelper", testUpdateHelper},
		{"UpdateContention", testUpdateContention},
		{"Watch", testWatch},
		{"WatchEmpty", testWatchEmpty},
		{"WatchPartialToken", testWatchPartialToken},
		{"WatchCancel", testWatchCancel},
		{"TTL", testTTL},
		{"Isolation", testIsolation},
		{"CanceledContext", testCanceledContext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, open(t))
		})
	}
}

// ctxFor returns a context bounded by stepTimeout·n, canceled when the test ends.
func ctxFor(t *testing.T, n int) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Duration(n)*stepTimeout)
	t.Cleanup(cancel)
	return ctx
}

// openBucket opens a bucket with a name unique to the test.
func openBucket(t *testing.T, o store.Opener, ttl time.Duration) store.KV {
	t.Helper()
	kv, err := o.Open(ctxFor(t, 3), store.Bucket{Name: bucketName(t), TTL: ttl, Description: "storetest " + t.Name()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return kv
}

// bucketName returns a valid bucket name, unique to the test and the call.
func bucketName(t *testing.T) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
			return r
		}
		return '_'
	}, t.Name())
	if len(name) > 80 {
		name = name[len(name)-80:]
	}
	return "st_" + name + "_" + hex.EncodeToString(b[:])
}

func put(t *testing.T, kv store.KV, key, value string) uint64 {
	t.Helper()
	rev, err := kv.Put(ctxFor(t, 1), key, []byte(value))
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	if rev == 0 {
		t.Fatalf("Put(%q): revision 0", key)
	}
	return rev
}

// wantEntry checks that key holds value at revision rev (any when rev is 0).
func wantEntry(t *testing.T, kv store.KV, key, value string, rev uint64) {
	t.Helper()
	e, err := kv.Get(ctxFor(t, 1), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if e.Key != key || string(e.Value) != value || (rev != 0 && e.Revision != rev) {
		t.Fatalf("Get(%q) = {%q %q rev %d}, want {%q %q rev %d}", key, e.Key, e.Value, e.Revision, key, value, rev)
	}
}

// wantErr checks that err matches target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

func wantKeys(t *testing.T, kv store.KV, prefix string, want ...string) {
	t.Helper()
	got, err := kv.Keys(ctxFor(t, 1), prefix)
	if err != nil {
		t.Fatalf("Keys(%q): %v", prefix, err)
	}
	if got == nil {
		t.Fatalf("Keys(%q) = nil, want a non-nil slice", prefix)
	}
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Keys(%q) = %q, want %q", prefix, got, want)
	}
}

// waitFor polls check until it returns nil or total elapses.
func waitFor(t *testing.T, total time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	step := time.Millisecond
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true after %v: %v", total, err)
		}
		time.Sleep(step) // polling pace, not a synchronisation sleep
		step = min(2*step, 50*time.Millisecond)
	}
}

func testOpenBadBucket(t *testing.T, o store.Opener) {
	for _, b := range []store.Bucket{
		{Name: ""},
		{Name: "a.b"},
		{Name: "a b"},
		{Name: "a*"},
		{Name: "a>"},
		{Name: "a=b"},
		{Name: "a{b}"},
		{Name: strings.Repeat("a", 129)},
		{Name: "ok", TTL: -time.Second},
	} {
		_, err := o.Open(ctxFor(t, 1), b)
		wantErr(t, fmt.Sprintf("Open(%q, TTL %v)", b.Name, b.TTL), err, store.ErrBadBucket)
	}
}

func testOpenTwice(t *testing.T, o store.Opener) {
	b := store.Bucket{Name: bucketName(t)}
	kv1, err := o.Open(ctxFor(t, 1), b)
	if err != nil {
		t.Fatal(err)
	}
	rev := put(t, kv1, "k", "v")
	kv2, err := o.Open(ctxFor(t, 1), b)
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	wantEntry(t, kv2, "k", "v", rev)
}

func testGetMissing(t *testing.T, o store.Opener) {
	kv := openBucket(t, o, 0)
	_, err := kv.Get(ctxFor(t, 1), "nothing.here")
	wantErr(t, "Get missing", err, store.ErrNotFound)
}

func testPutGet(t *testing.T, o store.Opener) {
	kv := openBucket(t, o, 0)
	r1 := put(t, kv, "user.1", "alice")
	wantEntry(t, kv, "user.1", "alice", r1)
	r2 := put(t, kv, "user.1", "bob")
	if r2 <= r1 {
		t.Fatalf("second Put revision %d, want > %d", r2, r1)
	}
	wantEntry(t, kv, "user.1", "bob", r2)
}

func testValues(t *testing.T, o store.Opener) {
	kv := openBucket(t, o, 0)
	big := make([]byte, 100<<10)
	_, _ = rand.Read(big)
	tests := []struct {
		name  string
		value []byte
	}{
		{"empty", []byte{}},
		{"nil", nil},
		{"binary", []byte{0, 1, 2, 0xff, '\n', ' ', '\r', 0}},
		{"text", []byte("héllo wörld\n")},
		{"big", big},
	}
	for i, tt := range tests {
		key := "v." + strconv.Itoa(i)
		rev, err := kv.Put(ctxFor(t, 1), key, tt.value)
		if err != nil {
			t.Fatalf("%s: Put: %v", tt.name, err)
		}
		e, err := kv.Get(ctxFor(t, 1), key)
		if err != nil {
			t.Fatalf("%s: Get: %v", tt.name, err)
		}
		if !bytes.Equal(e.Value, tt.value) || e.Revision != rev {
			t.Fatalf("%s: Get = %d bytes rev %d, want %d bytes rev %d", tt.name, len(e.Value), e.Revision, len(tt.value), rev)
		}
	}
}

func testRevisions(t *testing.T, o store.Opener) {
	kv := openBucket(t, o, 0)
	var last uint64
	for i, key := range []string{"a", "b", "a", "c.d", "b"} {
		rev := put(t, kv, key, strconv.Itoa(i))
		if rev <= last {
			t.Fatalf("Put #%d (%s) revision %d, want > %d: revisions grow across the bucket", i, key, rev, last)
		}
		last = rev
	}
}

func testCreate(t *testing.T, o store.Opener) {
	kv := openBucket(t, o, 0)
	ctx := ctxFor(t, 5)
	r1, err := kv.Create(ctx, "acct.alice", []byte("1"))
	if err != nil || r1 == 0 {
		t.Fatalf("Create = %d, %v", r1, err)
	}
	_, err = kv.Create(ctx, "acct.alice", []byte("2"))
	wantErr(t, "second Create", err, store.ErrExists)
	wantEntry(t, kv, "acct.alice", "1", r1)

	if err := kv.Delete(ctx, "acct.alice"); err != nil {
		t.Fatal(err)
	}
	r2, err := kv.Create(ctx, "acct.alice", []byte("3"))
	if err != nil {
		t.Fatalf("Create after Delete: %v", err)
	}
	if r2 <= r1 {
		t.Fatalf("Create after Delete: revision %d, want > %d", r2, r1)
	}
	wantEntry(t, kv, "acct.alice", "3", r2)
}

func testUpdate(t *testing.T, o store.Opener) {
	kv := openBucket(t, o, 0)
	ctx := ctxFor(t, 5)
	r1 := put(t, kv, "k", "1")
	r2, err := kv.Update(ctx, "k", []byte("2"), r1)
	if err != nil {
		t.Fatalf("Update at current revision: %v", err)
	}
	if r2 <= r1 {
		t.Fatalf("Update revision %d, want > %d", r2, r1)
	}
	wantEntry(t, kv, "k", "2", r2)

	tests := []struct {
		name string
		key  string
		rev  uint64
		want error
	}{
		{"stale revision", "k", r1, store.ErrConflict},
		{"future revision", "k", r2 + 1000, store.ErrConflict},
		{"revision 0 of a key with a value", "k", 0, store.ErrConflict},
		{"missing key", "missing", r2, store.ErrNotFound},
		{"missing key, revision 0", "missing", 0, store.ErrNotFound},
	}
	for _, tt := range tests {
		_, err := kv.Update(ctx, tt.key, []byte("x"), tt.rev)
		wantErr(t, tt.name, err, tt.want)
	}
	wantEntry(t, kv, "k", "2", r2)

	if err := kv.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	_, err = kv.Update(ctx, "k", []byte("3"), r2)
	wantErr(t, "Update of a deleted key", err, store.ErrNotFound)
}

func testDelete(t *testing.T, o store.Opener) {
	kv := openBucket(t, o, 0)
	ctx := ctxFor(t, 5)
	if err := kv.Delete(ctx, "never.written"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	put(t, kv, "a", "1")
	put(t, kv, "b", "2")
	if err := kv.Delete(ctx, "a"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err := kv.Get(ctx, "a")
	wantErr(t, "Get after Delete", err, store.ErrNotFound)
	if err := kv.Delete(ctx, "a"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	wantKeys(t, kv, "", "b")
	wantEntry(t, kv, "b", "2", 0)
}

func testDeleteRev(t *testing.T, o store.Opener) {
	kv := openBucket(t, o, 0)
	ctx := ctxFor(t, 5)
	r1 := put(t, kv, "k", "1")
	r2 := put(t, kv, "k", "2")
	tests := []struct {
		name string
		key  string
		rev  uint64
		want error
	}{
		{"stale revision", "k", r1, store.ErrConflict},
		{"future revision", "k", r2 + 1000, store.ErrConflict},
		{"revision 0", "k", 0, store.ErrConflict},
		{"missing key", "missing", r2, store.ErrNotFound},
	}
	for _, tt := range tests {
		wantErr(t, tt.name, kv.DeleteRev(ctx, tt.key, tt.rev), tt.want)
	}
	wantEntry(t, kv, "k", "2", r2)
	if err := kv.DeleteRev(ctx, "k", r2); err != nil {
		t.Fatalf("DeleteRev at the current revision: %v", err)
	}
	_, err := kv.Get(ctx, "k")
	wantErr(t, "Get after DeleteRev", err, store.ErrNotFound)
	wantErr(t, "DeleteRev of a deleted key", kv.DeleteRev(ctx, "k", r2), store.ErrNotFound)
}

// testDeleteRevRace: a writer that read a key deletes it only if nobody
// wrote it since: the key another writer took over survives.
func testDeleteRevRace(t *testing.T, o store.Opener) {
	kv := openBucket(t, o, 0)
	ctx := ctxFor(t, 5)
	read := put(t, kv, "claim", "mine")
	taken, err := kv.Update(ctx, "claim", []byte("theirs"), read)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteRev of what was read", kv.DeleteRev(ctx, "claim", read), store.ErrConflict)
	wantEntry(t, kv, "claim", "theirs", taken)
}

// testWriteChain writes one key back to back: every write follows the
// acknowledgement of the previous one, so each must succeed (a replicated
// JetStream leader may still hold the previous write in flight).
func testWriteChain(t *testing.T, o store.Opener) {
	kv := openBucket(t, o, 0)
	ctx := ctxFor(t, 6)
	for i := range 100 {
		rev, err := kv.Create(ctx, "k", []byte("c"))
		if err != nil {
			t.Fatalf("#%d: Create: %v", i, err)
		}
		if rev, err = kv.Update(ctx, "k", []byte("u"), rev); err != nil {
			t.Fatalf("#%d: Update: %v", i, err)
		}
		if _, err = kv.Update(ctx, "k", []byte("u2"), rev); err != nil {
			t.Fatalf("#%d: second Update: %v", i, err)
		}
		if err := kv.Delete(ctx, "k"); err != nil {
			t.Fatalf("#%d: Delete: %v", i, err)
		}
	}
}

// call is one named operation of a table test.
type call struct {
	name string
	fn   func() error
}

// badKeys are invalid keys; the second field says whether the string is
// also an invalid Keys/Watch prefix.
var badKeys = []struct {
	key       string
	badPrefix bool
}{
	{"", false},
	{".", true},
	{"a.", false},
	{".a", true},
	{"a..b", true},
	{"a..", true},
	{"a b", true},
	{"a*", true},
	{"a.>", true},
	{">", true},
	{"a/b", true},
	{"a:b", true},
	{"a{b}", true},
	{"ä", true},
	{"a\x00", true},
	{"a\n", true},
	{strings.Repeat("k", store.MaxKeyLen+1), true},
}

func testBadKeys(t *testing.T, o store.Opener) {
	kv := openBucket(t, o, 0)
	ctx := ctxFor(t, 5)
	for _, bk := range badKeys {
		k := bk.key
		if len(k) > 20 {
			k = k[:20] + "..."
		}
		ops := []call{
			{"Get", func() error { _, err := kv.Get(ctx, bk.key); return err }},
			{"Put", func() error { _, err := kv.Put(ctx, bk.key, nil); return err }},
			{"Create", func() error { _, err := kv.Create(ctx, bk.key, nil); return err }},
			{"Update", func() error { _, err := kv.Update(ctx, bk.key, nil, 1); return err }},
			{"Delete", func() error { return kv.Delete(ctx, bk.key) }},
		}
		if bk.badPrefix {
			ops = append(ops,
				call{"Keys", func() error { _, err := kv.Keys(ctx, bk.key); return err }},
				call{"Watch", func() error {
					wctx, cancel := context.WithCancel(ctx)
					defer cancel()
					_, err := kv.Watch(wctx, bk.key)
					return err
				}},
			)
		}
		for _, op := range ops {
			wantErr(t, fmt.Sprintf("%s(%q)", op.name, k), op.fn(), store.ErrBadKey)
		}
	}
	wantKeys(t, kv, "")
}

func testGoodKeys(t *testing.T, o store.Opener) {
	kv := openBucket(t, o, 0)
	keys := []string{
		"a",
		"A-Z_a-z=0-9",
		"guild.7.member.3",
		"x.y.z.w.v.u",
		"==",
		"-",
		"_",
		store.Token("Ünïcödé name / with * and > and spaces"),
		"user." + store.Token(""+"bob"),
		strings.Repeat("k", store.MaxKeyLen),
		strings.Repeat("a.", store.MaxKeyLen/2-1) + "zz",
	}
	for i, key := range keys {
		put(t, kv, key, strconv.Itoa(i))
		wantEntry(t, kv, key, strconv.Itoa(i), 0)
	}
	want := slices.Clone(keys)
	slices.Sort(want)
	wantKeys(t, kv, "", want...)
}

func testKeys(t *testing.T, o store.Opener) {
	kv := openBucket(t, o, 0)
	wantKeys(t, kv, "")
	for _, k := range []string{"guild.7", "guild.7.member.3", "guild.10", "guilds.1", "guild", "gu", "user.1", "gone.1"} {
		put(t, kv, k, "v")
	}
	if err := kv.Delete(ctxFor(t, 1), "gone.1"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"gu", "guild", "guild.10", "guild.7", "guild.7.member.3", "guilds.1", "user.1"}},
		{"guild.", []string{"guild.10", "guild.7", "guild.7.member.3"}},
		{"guild", []string{"guild", "guild.10", "guild.7", "guild.7.member.3", "guilds.1"}},
		{"guild.7", []string{"guild.7", "guild.7.member.3"}},
		{"guild.7.", []string{"guild.7.member.3"}},
		{"guild.1", []string{"guild.10"}},
		{"g", []string{"gu", "guild", "guild.10", "guild.7", "guild.7.member.3", "guilds.1"}},
		{"user.1", []string{"user.1"}},
		{"user.1.", nil},
		{"gone.", nil},
		{"nope.", nil},
		{"nope", nil},
	}
	for _, tt := range tests {
		wantKeys(t, kv, tt.prefix, tt.want...)
	}
}

func testCreateRace(t *testing.T, o store.Opener) {
	kv := openBucket(t, o, 0)
	ctx := ctxFor(t, 3)
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = kv.Create(ctx, "lock", []byte(strconv.Itoa(i)))
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("Create succeeded for both %d and %d", winner, i)
			}
			winner = i
		case !errors.Is(err, store.ErrExists):
			t.Fatalf("Create %d: %v, want nil or ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no Create succeeded")
	}
	wantEntry(t, kv, "lock", strconv.Itoa(winner), 0)
}

func testUpdateHelper(t *testing.T, o store.Opener) {
	kv := openBucket(t, o, 0)
	ctx := ctxFor(t, 3)
	rev, err := store.Update(ctx, kv, "n", func(cur []byte, exists bool) ([]byte, error) {
		if exists || cur != nil {
			return nil, fmt.Errorf("fn got %q, exists %v for a missing key", cur, exists)
		}
		return []byte("first"), nil
	})
	if err != nil {
		t.Fatalf("Update of a missing key: %v", err)
	}
	wantEntry(t, kv, "n", "first", rev)

	rev2, err := store.Update(ctx, kv, "n", func(cur []byte, exists bool) ([]byte, error) {
		if !exists || string(cur) != "first" {
			return nil, fmt.Errorf("fn got %q, exists %v", cur, exists)
		}
		return []byte("second"), nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	wantEntry(t, kv, "n", "second", rev2)

	errStop := errors.New("stop")
	_, err = store.Update(ctx, kv, "n", func([]byte, bool) ([]byte, error) { return nil, errStop })
	wantErr(t, "Update with failing fn", err, errStop)
	wantEntry(t, kv, "n", "second", rev2)

	_, err = store.Update(ctx, kv, "bad..key", func([]byte, bool) ([]byte, error) { return nil, nil })
	wantErr(t, "Update of a bad key", err, store.ErrBadKey)
}

func testUpdateContention(t *testing.T, o store.Opener) {
	kv := openBucket(t, o, 0)
	ctx := ctxFor(t, 6)
	const n = 50
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = store.Update(ctx, kv, "counter", func(cur []byte, exists bool) ([]byte, error) {
				v := 0
				if exists {
					var err error
					if v, err = strconv.Atoi(string(cur)); err != nil {
						return nil, err
					}
				}
				return []byte(strconv.Itoa(v + 1)), nil
			})
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	wantEntry(t, kv, "counter", strconv.Itoa(n), 0)
}

// watcher reads a watch channel in tests.
type watcher struct {
	t  *testing.T
	ch <-chan *Change
}

// Change is store.Change, shortened for the helpers.
type Change = store.Change

// next returns the next change (nil for the marker); it fails the test if
// none comes within stepTimeout or the channel is closed.
func (w watcher) next() *Change {
	w.t.Helper()
	select {
	case c, ok := <-w.ch:
		if !ok {
			w.t.Fatal("watch channel closed")
		}
		return c
	case <-time.After(stepTimeout):
		w.t.Fatal("no watch event")
		return nil
	}
}

// initial reads the initial values up to the nil marker, by key.
func (w watcher) initial() map[string]*Change {
	w.t.Helper()
	got := map[string]*Change{}
	for {
		c := w.next()
		if c == nil {
			return got
		}
		if c.Deleted {
			w.t.Fatalf("initial values: delete of %q", c.Key)
		}
		if got[c.Key] != nil {
			w.t.Fatalf("initial values: %q twice", c.Key)
		}
		got[c.Key] = c
	}
}

// want reads the next change and checks it.
func (w watcher) want(key, value string, deleted bool) *Change {
	w.t.Helper()
	c := w.next()
	if c == nil {
		w.t.Fatalf("got the nil marker, want a change of %q", key)
	}
	if c.Key != key || c.Deleted != deleted || (!deleted && string(c.Value) != value) || c.Revision == 0 && !deleted {
		w.t.Fatalf("got change {%q %q rev %d deleted %v}, want {%q %q deleted %v}", c.Key, c.Value, c.Revision, c.Deleted, key, value, deleted)
	}
	if deleted && len(c.Value) != 0 {
		w.t.Fatalf("delete of %q has value %q", key, c.Value)
	}
	return c
}

// closed waits until the channel is closed, discarding changes.
func (w watcher) closed() {
	w.t.Helper()
	timeout := time.After(stepTimeout)
	for {
		select {
		case _, ok := <-w.ch:
			if !ok {
				return
			}
		case <-timeout:
			w.t.Fatal("watch channel not closed after its context ended")
		}
	}
}

func watch(t *testing.T, kv store.KV, ctx context.Context, prefix string) watcher {
	t.Helper()
	ch, err := kv.Watch(ctx, prefix)
	if err != nil {
		t.Fatalf("Watch(%q): %v", prefix, err)
	}
	return watcher{t: t, ch: ch}
}

func testWatch(t *testing.T, o store.Opener) {
	kv := openBucket(t, o, 0)
	ctx, cancel := context.WithCancel(ctxFor(t, 6))
	defer cancel()
	ra1 := put(t, kv, "a.1", "one")
	put(t, kv, "a.2", "two")
	ra2 := put(t, kv, "a.2", "two'")
	put(t, kv, "a.gone", "x")
	if err := kv.Delete(ctx, "a.gone"); err != nil {
		t.Fatal(err)
	}
	put(t, kv, "b.1", "other")
	put(t, kv, "a", "not under a.")

	w := watch(t, kv, ctx, "a.")
	init := w.initial()
	if got := slices.Sorted(maps.Keys(init)); !slices.Equal(got, []string{"a.1", "a.2"}) {
		t.Fatalf("initial keys %q, want [a.1 a.2]", got)
	}
	if c := init["a.1"]; string(c.Value) != "one" || c.Revision != ra1 {
		t.Fatalf("initial a.1 = %q rev %d, want %q rev %d", c.Value, c.Revision, "one", ra1)
	}
	if c := init["a.2"]; string(c.Value) != "two'" || c.Revision != ra2 {
		t.Fatalf("initial a.2 = %q rev %d, want %q rev %d", c.Value, c.Revision, "two'", ra2)
	}

	r3 := put(t, kv, "a.3", "three")
	if c := w.want("a.3", "three", false); c.Revision != r3 {
		t.Fatalf("change revision %d, want %d", c.Revision, r3)
	}
	put(t, kv, "b.2", "outside")
	put(t, kv, "a", "outside")
	if err := kv.Delete(ctx, "a.1"); err != nil {
		t.Fatal(err)
	}
	if c := w.want("a.1", "", true); c.Revision <= r3 {
		t.Fatalf("delete revision %d, want > %d", c.Revision, r3)
	}
	rev, err := kv.Create(ctx, "a.1", []byte("again"))
	if err != nil {
		t.Fatal(err)
	}
	if c := w.want("a.1", "again", false); c.Revision != rev {
		t.Fatalf("change revision %d, want %d", c.Revision, rev)
	}
	rev, err = kv.Update(ctx, "a.1", []byte("updated"), rev)
	if err != nil {
		t.Fatal(err)
	}
	if c := w.want("a.1", "updated", false); c.Revision != rev {
		t.Fatalf("change revision %d, want %d", c.Revision, rev)
	}
	// The deep key proves that the writes outside the prefix were skipped.
	put(t, kv, "a.4.deep", "four")
	w.want("a.4.deep", "four", false)

	cancel()
	w.closed()
}

func testWatchEmpty(t *testing.T, o store.Opener) {
	kv := openBucket(t, o, 0)
	ctx, cancel := context.WithCancel(ctxFor(t, 3))
	defer cancel()
	put(t, kv, "other.1", "x")
	tests := []struct {
		name   string
		kv     store.KV
		prefix string
	}{
		{"empty bucket", openBucket(t, o, 0), ""},
		{"no key with the prefix", kv, "none."},
	}
	for _, tt := range tests {
		w := watch(t, tt.kv, ctx, tt.prefix)
		if c := w.next(); c != nil {
			t.Fatalf("%s: first event %+v, want the nil marker", tt.name, c)
		}
		put(t, tt.kv, tt.prefix+"new", "v")
		w.want(tt.prefix+"new", "v", false)
	}
	cancel()
}

func testWatchPartialToken(t *testing.T, o store.Opener) {
	kv := openBucket(t, o, 0)
	ctx, cancel := context.WithCancel(ctxFor(t, 3))
	defer cancel()
	put(t, kv, "guild.1", "a")
	put(t, kv, "gus", "b")
	put(t, kv, "g", "c")
	put(t, kv, "user.gu", "d")
	w := watch(t, kv, ctx, "gu")
	if got := slices.Sorted(maps.Keys(w.initial())); !slices.Equal(got, []string{"guild.1", "gus"}) {
		t.Fatalf("initial keys %q, want [guild.1 gus]", got)
	}
	put(t, kv, "g", "c2")
	put(t, kv, "gu", "e")
	w.want("gu", "e", false)
	cancel()
	w.closed()
}

func testWatchCancel(t *testing.T, o store.Opener) {
	kv := openBucket(t, o, 0)
	for i := range 300 {
		put(t, kv, "k."+strconv.Itoa(i), "v")
	}
	tests := []struct {
		name string
		read int // events read before cancel
	}{
		{"before reading", 0},
		{"during initial values", 10},
		{"after the marker", 301},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithCancel(ctxFor(t, 1))
		w := watch(t, kv, ctx, "")
		for range tt.read {
			w.next()
		}
		cancel()
		w.closed()
	}
	// Writes after the watchers ended must not block on them.
	for i := range 300 {
		put(t, kv, "k."+strconv.Itoa(i), "w")
	}
}

func testTTL(t *testing.T, o store.Opener) {
	const ttl = time.Second
	kv := openBucket(t, o, ttl)
	ctx, cancel := context.WithCancel(ctxFor(t, 4))
	defer cancel()
	put(t, kv, "session.1", "s")
	w := watch(t, kv, ctx, "session.")
	if got := slices.Sorted(maps.Keys(w.initial())); !slices.Equal(got, []string{"session.1"}) {
		t.Fatalf("initial keys %q, want [session.1]", got)
	}
	start := time.Now()
	waitFor(t, expiryTimeout, func() error {
		e, err := kv.Get(ctx, "session.1")
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("Get after %v: %q, %v", time.Since(start), e.Value, err)
	})
	wantKeys(t, kv, "session.")
	// The expiry reaches watchers as a delete.
	deadline := time.After(expiryTimeout)
	for {
		var c *Change
		select {
		case c = <-w.ch:
		case <-deadline:
			t.Fatal("no delete event for the expired key")
		}
		if c != nil && c.Key == "session.1" && c.Deleted {
			break
		}
		if c == nil || c.Key != "session.1" {
			t.Fatalf("unexpected event %+v", c)
		}
	}
	// An expired key can be created again.
	if _, err := kv.Create(ctx, "session.1", []byte("s2")); err != nil {
		t.Fatalf("Create after expiry: %v", err)
	}
	w.want("session.1", "s2", false)
	cancel()
	w.closed()
}

func testIsolation(t *testing.T, o store.Opener) {
	kv1 := openBucket(t, o, 0)
	kv2 := openBucket(t, o, 0)
	ctx, cancel := context.WithCancel(ctxFor(t, 3))
	defer cancel()
	put(t, kv1, "same.key", "one")
	put(t, kv2, "same.key", "two")
	put(t, kv1, "only.one", "x")
	wantEntry(t, kv1, "same.key", "one", 0)
	wantEntry(t, kv2, "same.key", "two", 0)
	wantKeys(t, kv2, "", "same.key")
	_, err := kv2.Create(ctx, "only.one", []byte("y"))
	if err != nil {
		t.Fatalf("Create in the second bucket of a key of the first: %v", err)
	}

	w := watch(t, kv2, ctx, "")
	if got := slices.Sorted(maps.Keys(w.initial())); !slices.Equal(got, []string{"only.one", "same.key"}) {
		t.Fatalf("initial keys %q", got)
	}
	if err := kv1.Delete(ctx, "same.key"); err != nil {
		t.Fatal(err)
	}
	put(t, kv1, "new", "1")
	put(t, kv2, "marker", "2")
	w.want("marker", "2", false)
	wantEntry(t, kv2, "same.key", "two", 0)
	cancel()
	w.closed()
}

func testCanceledContext(t *testing.T, o store.Opener) {
	kv := openBucket(t, o, 0)
	put(t, kv, "k", "v")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ops := []call{
		{"Get", func() error { _, err := kv.Get(ctx, "k"); return err }},
		{"Put", func() error { _, err := kv.Put(ctx, "k", nil); return err }},
		{"Create", func() error { _, err := kv.Create(ctx, "k2", nil); return err }},
		{"Update", func() error { _, err := kv.Update(ctx, "k", nil, 1); return err }},
		{"Delete", func() error { return kv.Delete(ctx, "k") }},
		{"Keys", func() error { _, err := kv.Keys(ctx, ""); return err }},
		{"Watch", func() error { _, err := kv.Watch(ctx, ""); return err }},
		{"Open", func() error { _, err := o.Open(ctx, store.Bucket{Name: bucketName(t)}); return err }},
	}
	for _, op := range ops {
		if err := op.fn(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: %v, want context.Canceled", op.name, err)
		}
	}
	wantEntry(t, kv, "k", "v", 0)
}
