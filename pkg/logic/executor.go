package logic

import (
	"hash/maphash"
	"sync"

	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/nats-io/nats.go"
)

// execKey names the executor a request runs on: its user, or its session
// before login.
type execKey struct {
	user int64
	gate string
	sid  uint64
}

func keyOf(m *fabric.Meta) execKey {
	if m.UserID != 0 {
		return execKey{user: m.UserID}
	}
	return execKey{gate: m.Gate, sid: m.Session}
}

// task is one request waiting on an executor.
type task struct {
	msg   *nats.Msg
	meta  fabric.Meta
	route *Route
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
	ex.q = append(ex.q, t)
	start := !ex.running
	ex.running = true
	if start {
		e.wg.Add(1)
	}
	s.mu.Unlock()
	if start {
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
			return
		}
		t := ex.q[ex.head]
		ex.q[ex.head] = task{}
		ex.head++
		if ex.head == len(ex.q) {
			ex.q, ex.head = ex.q[:0], 0
		}
		s.mu.Unlock()
		e.run(t)
	}
}

// wait blocks until every queued task has run.
func (e *executors) wait() { e.wg.Wait() }
