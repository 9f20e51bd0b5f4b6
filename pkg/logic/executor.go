package logic

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/stats"
	"github.com/nats-io/nats.go"
)

// execKey names an executor: a user's, a session's before login, or a
// named key's (Ctx.Exec: a room, a match). The three spaces never collide:
// a user key has only user set, a session key gate and sid, a named key
// only name (with the marker named, so that "" is a valid name too).
type execKey struct {
	user  int64
	gate  string
	sid   uint64
	name  string
	named bool
	depth int32 // a server-to-server call's depth, never 0 (callKey, call.go)
}

// namedKey returns the executor key of Ctx.Exec(name, ...).
func namedKey(name string) execKey { return execKey{name: name, named: true} }

func keyOf(m *fabric.Meta) execKey {
	if m.Gate == "" {
		return callKey(m) // a server-to-server call (call.go)
	}
	if m.UserID != 0 {
		return execKey{user: m.UserID}
	}
	return execKey{gate: m.Gate, sid: m.Session}
}

// task is one request, or one function (Exec), waiting on an executor.
type task struct {
	msg   *nats.Msg
	meta  fabric.Meta
	route *Route
	// expires is when the caller stops waiting (fabric.HeaderTimeout
	// after arrival); zero for no limit.
	expires time.Time

	// at is when the task was queued, then, once it runs, when it began
	// to run; set only with stats on (statsrv.go).
	at time.Time

	fn   func(context.Context) // set for Exec tasks; msg is then nil
	key  string                // the named key of an Exec task
	done chan struct{}         // closed after fn ran (ExecWait); may be nil
}

// executor is the FIFO of one key. Its fields are guarded by its shard's
// mutex.
type executor struct {
	q       []task
	head    int
	running bool
}

type shard struct {
	mu sync.Mutex
	m  map[execKey]*executor
}

const shardCount = 64

// executors runs tasks serially per key and in parallel across keys. An
// executor lives in its shard's map only while it has queued or running
// work; a goroutine drains it and exits when it is empty.
type executors struct {
	seed   maphash.Seed
	shards [shardCount]shard
	max    int // queued tasks per key
	run    func(task)
	wg     sync.WaitGroup

	// closeMu orders submissions from outside any task (Server.Exec)
	// against wait: a WaitGroup must not gain work from zero while it is
	// waited on. Tasks submitted from a running task need no lock, since
	// that task keeps the count above zero. Lock order: closeMu, then a
	// shard's mu.
	closeMu sync.RWMutex
	closed  bool

	// queued counts the tasks waiting on every executor; active the
	// executors running (statsrv.go).
	queued, active atomic.Int64
	// rec times the tasks' wait and run; nil with stats off, which costs
	// no clock reading (statsrv.go).
	rec *stats.Recorder
}

func newExecutors(max int, run func(task)) *executors {
	e := &executors{seed: maphash.MakeSeed(), max: max, run: run}
	for i := range e.shards {
		e.shards[i].m = make(map[execKey]*executor)
	}
	return e
}

// submit queues t on the executor of k. It reports false, queuing nothing,
// when k already has max tasks waiting.
func (e *executors) submit(k execKey, t task) bool {
	s := &e.shards[maphash.Comparable(e.seed, k)%shardCount]
	s.mu.Lock()
	ex := s.m[k]
	if ex == nil {
		ex = &executor{}
		s.m[k] = ex
	}
	if len(ex.q)-ex.head >= e.max {
		s.mu.Unlock()
		return false
	}
	if e.rec != nil {
		t.at = time.Now()
	}
	ex.q = append(ex.q, t)
	e.queued.Add(1)
	start := !ex.running
	ex.running = true
	if start {
		e.wg.Add(1)
	}
	s.mu.Unlock()
	if start {
		e.active.Add(1)
		go e.drain(s, k, ex)
	}
	return true
}

func (e *executors) drain(s *shard, k execKey, ex *executor) {
	defer e.wg.Done()
	for {
		s.mu.Lock()
		if ex.head == len(ex.q) {
			ex.running = false
			delete(s.m, k)
			s.mu.Unlock()
			e.active.Add(-1)
			return
		}
		t := ex.q[ex.head]
		ex.q[ex.head] = task{}
		ex.head++
		if ex.head == len(ex.q) {
			ex.q, ex.head = ex.q[:0], 0
		}
		s.mu.Unlock()
		e.queued.Add(-1)
		if e.rec == nil {
			e.run(t)
			continue
		}
		began := time.Now()
		wait := began.Sub(t.at)
		t.at = began
		e.run(t)
		e.rec.ObserveTask(wait, time.Since(began))
	}
}

// longest returns the length and key of the longest queue. It visits
// every executor, shard by shard, so it is for snapshots, not hot paths.
func (e *executors) longest() (int64, execKey) {
	var n int
	var key execKey
	for i := range e.shards {
		s := &e.shards[i]
		s.mu.Lock()
		for k, ex := range s.m {
			if l := len(ex.q) - ex.head; l > n {
				n, key = l, k
			}
		}
		s.mu.Unlock()
	}
	return int64(n), key
}

// submitFn queues fn on the executor of the named key. outside says the
// caller is not itself a running task; such submissions are refused once
// wait has begun.
func (e *executors) submitFn(key string, fn func(context.Context), done chan struct{}, outside bool) error {
	if outside {
		e.closeMu.RLock()
		defer e.closeMu.RUnlock()
		if e.closed {
			return ErrStopped
		}
	}
	if !e.submit(namedKey(key), task{fn: fn, key: key, done: done}) {
		return ErrBusy
	}
	return nil
}

// wait refuses further submissions from outside tasks and blocks until
// every queued task has run.
func (e *executors) wait() {
	e.closeMu.Lock()
	e.closed = true
	e.closeMu.Unlock()
	e.wg.Wait()
}
