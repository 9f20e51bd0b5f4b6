package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis layout of a bucket named B (the braces make B a Redis Cluster hash
// tag, so that every key of a bucket lives in one slot and the scripts may
// touch them together):
//
//	iogo:{B}:<key>     hash {v: value, r: revision}
//	iogo:{B}:#rev      revision counter of the bucket (INCR)
//	iogo:{B}:#cfg      hash {ttl: milliseconds, description}, for operators
//	iogo:{B}:changes   Pub/Sub channel of the bucket's writes and deletes
//
// User keys never contain '#', so they cannot collide with the counter.
const (
	redisNS      = "iogo:"
	redisRevKey  = "#rev"
	redisCfgKey  = "#cfg"
	redisChanSfx = "changes"
)

// Messages on a bucket's changes channel:
//
//	<rev> p <key>\n<value>   a write
//	<rev> d <key>            a delete
//	s <nonce>                a watcher's synchronisation marker
const (
	opPut    = 'p'
	opDelete = 'd'
	opSync   = 's'
)

// writeTail is the end of every write script: it stores ARGV[1] under
// KEYS[1] with the next revision of the counter KEYS[2], sets the TTL of
// ARGV[2] milliseconds (0: none), publishes the write on channel ARGV[3] for
// the user key ARGV[4] and returns the revision.
const writeTail = `
local rev = string.format('%d', redis.call('INCR', KEYS[2]))
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'r', rev)
if ARGV[2] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
redis.call('PUBLISH', ARGV[3], rev .. ' p ' .. ARGV[4] .. '\n' .. ARGV[1])
return tonumber(rev)
`

// Scripts of the Redis backend. Negative results: -1 the key exists (Create)
// or has another revision (Update), -2 the key has no value (Update).
var (
	putScript    = redis.NewScript(writeTail)
	createScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
` + writeTail)
	updateScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'r')
if not cur then return -2 end
if cur ~= ARGV[5] then return -1 end
` + writeTail)
	// deleteRevScript removes KEYS[1] if its revision is ARGV[3] and
	// publishes the delete like deleteScript; -2: no value, -1: another
	// revision.
	deleteRevScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'r')
if not cur then return -2 end
if cur ~= ARGV[3] then return -1 end
redis.call('DEL', KEYS[1])
local rev = string.format('%d', redis.call('INCR', KEYS[2]))
redis.call('PUBLISH', ARGV[1], rev .. ' d ' .. ARGV[2])
return tonumber(rev)
`)
	// deleteScript removes KEYS[1] and, if it existed, publishes the delete
	// of user key ARGV[2] on channel ARGV[1] with the next revision.
	deleteScript = redis.NewScript(`
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
local rev = string.format('%d', redis.call('INCR', KEYS[2]))
redis.call('PUBLISH', ARGV[1], rev .. ' d ' .. ARGV[2])
return tonumber(rev)
`)
)

// RedisFromURL returns a Redis client for a URL such as
// redis://[user:password@]host:6379/0 or rediss:// for TLS (the forms of
// redis.ParseURL), for services that take a -redis flag. The caller closes
// the client.
func RedisFromURL(url string) (redis.UniversalClient, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("store: redis URL: %w", err)
	}
	return redis.NewClient(opt), nil
}

// NewRedis returns an [Opener] of buckets kept in Redis (version 6.2 or
// later) through rdb, which the caller keeps and closes. Writes are Lua
// scripts, so Create and Update are atomic compare-and-set operations; each
// publishes the change for watchers.
//
// Revisions come from one counter per bucket: they grow across the whole
// bucket, like JetStream's.
//
// A bucket with a TTL asks the server for expiry notifications
// (CONFIG SET notify-keyspace-events, adding "Ex"), so that watchers see an
// expired key as a delete. Managed Redis services may refuse CONFIG: keys
// then still expire, but watchers are not told; enable the notifications in
// the service's settings instead. On Redis Cluster, watchers never see
// expiries (notifications are local to a node).
func NewRedis(rdb redis.UniversalClient) Opener {
	return redisOpener{rdb: rdb}
}

// RedisClient returns the Redis client of an Opener made by NewRedis, so
// that a module can use Redis structures beyond KV (the rank module keeps
// its boards in sorted sets) on the same server; ok is false for any other
// Opener.
func RedisClient(o Opener) (rdb redis.UniversalClient, ok bool) {
	r, ok := o.(redisOpener)
	return r.rdb, ok
}

// redisOpener implements Opener on Redis.
type redisOpener struct {
	rdb redis.UniversalClient
}

// Open checks the connection, records the bucket's configuration under
// iogo:{Name}:#cfg and, for a bucket with a TTL, enables expiry
// notifications when the server allows it.
func (o redisOpener) Open(ctx context.Context, b Bucket) (KV, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	pre := redisNS + "{" + b.Name + "}:"
	kv := &redisKV{
		rdb:     o.rdb,
		name:    b.Name,
		pre:     pre,
		rev:     pre + redisRevKey,
		channel: pre + redisChanSfx,
		ttl:     strconv.FormatInt(b.TTL.Milliseconds(), 10),
	}
	if b.TTL > 0 && b.TTL < time.Millisecond {
		kv.ttl = "1"
	}
	if err := o.rdb.HSet(ctx, pre+redisCfgKey, "ttl", kv.ttl, "description", b.Description).Err(); err != nil {
		return nil, fmt.Errorf("store: open bucket %s: %w", b.Name, err)
	}
	if b.TTL > 0 {
		db := 0
		if c, ok := o.rdb.(interface{ Options() *redis.Options }); ok {
			db = c.Options().DB
		}
		kv.expired = fmt.Sprintf("__keyevent@%d__:expired", db)
		// Best effort: see NewRedis.
		_ = enableExpiryEvents(ctx, o.rdb)
	}
	return kv, nil
}

// enableExpiryEvents adds "Ex" (key-event notifications of expiries) to the
// server's notify-keyspace-events.
func enableExpiryEvents(ctx context.Context, rdb redis.UniversalClient) error {
	cfg, err := rdb.ConfigGet(ctx, "notify-keyspace-events").Result()
	if err != nil {
		return err
	}
	cur := cfg["notify-keyspace-events"]
	if strings.Contains(cur, "E") && strings.ContainsAny(cur, "xA") {
		return nil
	}
	return rdb.ConfigSet(ctx, "notify-keyspace-events", cur+"Ex").Err()
}

// redisKV implements KV on Redis.
type redisKV struct {
	rdb     redis.UniversalClient
	name    string // bucket name
	pre     string // prefix of the bucket's Redis keys
	rev     string // Redis key of the revision counter
	channel string // changes channel
	expired string // expiry notification channel; "" without TTL
	ttl     string // TTL in milliseconds, "0" for none
}

func (s *redisKV) Get(ctx context.Context, key string) (Entry, error) {
	if err := checkKey(key); err != nil {
		return Entry{}, err
	}
	vals, err := s.rdb.HMGet(ctx, s.pre+key, "v", "r").Result()
	if err != nil {
		return Entry{}, s.wrap("get", key, err)
	}
	e, ok := entryOf(key, vals)
	if !ok {
		return Entry{}, s.wrap("get", key, ErrNotFound)
	}
	return e, nil
}

// entryOf builds the entry of key from the reply to HMGET v r; ok is false
// when the key has no value.
func entryOf(key string, vals []any) (e Entry, ok bool) {
	if len(vals) != 2 {
		return Entry{}, false
	}
	v, vok := vals[0].(string)
	r, rok := vals[1].(string)
	if !vok || !rok {
		return Entry{}, false
	}
	rev, err := strconv.ParseUint(r, 10, 64)
	if err != nil {
		return Entry{}, false
	}
	return Entry{Key: key, Value: []byte(v), Revision: rev}, true
}

func (s *redisKV) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	return s.write(ctx, "put", putScript, key, value)
}

func (s *redisKV) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	return s.write(ctx, "create", createScript, key, value)
}

func (s *redisKV) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	return s.write(ctx, "update", updateScript, key, value, strconv.FormatUint(rev, 10))
}

// write runs one of the write scripts and maps its negative results to errors.
func (s *redisKV) write(ctx context.Context, op string, script *redis.Script, key string, value []byte, extra ...any) (uint64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	if value == nil {
		value = []byte{}
	}
	args := append([]any{value, s.ttl, s.channel, key}, extra...)
	res, err := script.Run(ctx, s.rdb, []string{s.pre + key, s.rev}, args...).Int64()
	switch {
	case err != nil:
		return 0, s.wrap(op, key, err)
	case res == -1 && op == "create":
		return 0, s.wrap(op, key, ErrExists)
	case res == -1:
		return 0, s.wrap(op, key, ErrConflict)
	case res == -2:
		return 0, s.wrap(op, key, ErrNotFound)
	case res <= 0:
		return 0, s.wrap(op, key, fmt.Errorf("unexpected script result %d", res))
	}
	return uint64(res), nil
}

func (s *redisKV) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := deleteScript.Run(ctx, s.rdb, []string{s.pre + key, s.rev}, s.channel, key).Err(); err != nil {
		return s.wrap("delete", key, err)
	}
	return nil
}

func (s *redisKV) DeleteRev(ctx context.Context, key string, rev uint64) error {
	if err := checkKey(key); err != nil {
		return err
	}
	res, err := deleteRevScript.Run(ctx, s.rdb, []string{s.pre + key, s.rev}, s.channel, key, strconv.FormatUint(rev, 10)).Int64()
	switch {
	case err != nil:
		return s.wrap("delete", key, err)
	case res == -1:
		return s.wrap("delete", key, ErrConflict)
	case res == -2:
		return s.wrap("delete", key, ErrNotFound)
	}
	return nil
}

// Keys scans the bucket's Redis keys with SCAN MATCH; its cost grows with
// the number of keys in the database, not only in the bucket.
func (s *redisKV) Keys(ctx context.Context, prefix string) ([]string, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	keys := []string{}
	err := s.scan(ctx, prefix, func(batch []string) error {
		keys = append(keys, batch...)
		return nil
	})
	if err != nil {
		return nil, s.wrap("keys", prefix, err)
	}
	slices.Sort(keys)
	return slices.Compact(keys), nil
}

// scanCount is the COUNT hint of SCAN.
const scanCount = 1000

// scan calls fn with batches of the user keys that start with prefix; a key
// may come twice.
func (s *redisKV) scan(ctx context.Context, prefix string, fn func([]string) error) error {
	var sc redis.Cmdable = s.rdb
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		// Every key of the bucket is in the slot of its hash tag.
		node, err := cc.MasterForKey(ctx, s.rev)
		if err != nil {
			return err
		}
		sc = node
	}
	match := globEscape(s.pre+prefix) + "*"
	var cursor uint64
	for {
		raw, next, err := sc.Scan(ctx, cursor, match, scanCount).Result()
		if err != nil {
			return err
		}
		batch := raw[:0]
		for _, k := range raw {
			if k, ok := strings.CutPrefix(k, s.pre); ok && !strings.HasPrefix(k, "#") {
				batch = append(batch, k)
			}
		}
		if len(batch) > 0 {
			if err := fn(batch); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// globEscape escapes the characters that SCAN MATCH patterns give a meaning.
func globEscape(s string) string {
	if !strings.ContainsAny(s, `*?[]\^`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(`*?[]\^`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// wrap adds the operation, bucket and key to err.
func (s *redisKV) wrap(op, key string, err error) error {
	return fmt.Errorf("store: %s %s/%s: %w", op, s.name, key, err)
}

// Watch subscribes to the bucket's changes channel (and, with a TTL, to
// expiry notifications) before it reads the current values, so that no
// change is lost in between; see redisWatch for the details.
func (s *redisKV) Watch(ctx context.Context, prefix string) (<-chan *Change, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, s.wrap("watch", prefix, err)
	}
	channels := []string{s.channel}
	if s.expired != "" {
		channels = append(channels, s.expired)
	}
	ps := s.rdb.Subscribe(ctx, channels...)
	// Receive does not return when ctx ends; closing ps makes it return.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	fail := func(err error) (<-chan *Change, error) {
		stop()
		_ = ps.Close()
		if ctx.Err() != nil {
			err = errors.Join(ctx.Err(), err)
		}
		return nil, s.wrap("watch", prefix, err)
	}
	for n := 0; n < len(channels); {
		msg, err := ps.Receive(ctx)
		if err != nil {
			return fail(err)
		}
		if sub, ok := msg.(*redis.Subscription); ok && sub.Kind == "subscribe" {
			n++
		}
	}
	w := &redisWatch{kv: s, ps: ps, prefix: prefix, out: make(chan *Change), live: map[string]uint64{}}
	go func() {
		defer stop()
		w.run(ctx)
	}()
	return w.out, nil
}
