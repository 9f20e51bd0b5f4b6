package external

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/wire"
)

// fakeLink records batches and blocks each write until released.
type fakeLink struct {
	batches  chan []int32 // MsgIDs of each batch written
	release  chan struct{}
	closed   chan struct{}
	once     sync.Once
	goodbyes int
}

func newFakeLink() *fakeLink {
	return &fakeLink{batches: make(chan []int32, 16), release: make(chan struct{}, 16), closed: make(chan struct{})}
}

func (l *fakeLink) read() ([]byte, error) { <-l.closed; return nil, errors.New("closed") }

func (l *fakeLink) write(msgs []wire.Message) (int, error) {
	ids := make([]int32, len(msgs))
	for i := range msgs {
		ids[i] = msgs[i].MsgID
	}
	l.batches <- ids
	select {
	case <-l.release:
		return len(msgs), nil
	case <-l.closed:
		return 0, errors.New("closed")
	}
}

func (l *fakeLink) goodbye() { l.goodbyes++ }
func (l *fakeLink) close()   { l.once.Do(func() { close(l.closed) }) }

func newTestSession(t *testing.T, queue int) (*session, *fakeLink) {
	t.Helper()
	srv, err := New(Config{TCPAddr: "127.0.0.1:0", WriteQueue: queue, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	l := newFakeLink()
	s := newSession(srv, 1, wire.Protobuf{}, l, "fake", "test")
	t.Cleanup(func() {
		s.closeWith(abort)
		<-s.writerDone
	})
	return s, l
}

func nextBatch(t *testing.T, l *fakeLink) []int32 {
	t.Helper()
	select {
	case b := <-l.batches:
		return b
	case <-time.After(5 * time.Second):
		t.Fatal("no write")
		return nil
	}
}

func TestSessionBatchesWrites(t *testing.T) {
	s, l := newTestSession(t, 100)
	s.send(wire.Message{MsgID: 1})
	if got := nextBatch(t, l); !slices.Equal(got, []int32{1}) {
		t.Fatalf("first batch %v", got)
	}
	// While the writer is busy, replies pile up and leave in one batch.
	for id := int32(2); id <= 10; id++ {
		s.send(wire.Message{MsgID: id})
	}
	l.release <- struct{}{}
	if got := nextBatch(t, l); !slices.Equal(got, []int32{2, 3, 4, 5, 6, 7, 8, 9, 10}) {
		t.Fatalf("second batch %v", got)
	}
	// A graceful close sends what is queued, then says goodbye.
	s.send(wire.Message{MsgID: 11})
	s.closeWith(graceful)
	s.send(wire.Message{MsgID: 12}) // refused: the session is closing
	l.release <- struct{}{}
	if got := nextBatch(t, l); !slices.Equal(got, []int32{11}) {
		t.Fatalf("last batch %v", got)
	}
	l.release <- struct{}{}
	<-s.writerDone
	if l.goodbyes != 1 {
		t.Fatalf("%d goodbyes", l.goodbyes)
	}
	select {
	case <-l.closed:
	default:
		t.Fatal("link not closed")
	}
}

func TestSessionOverflowCloses(t *testing.T) {
	const queue = 4
	s, l := newTestSession(t, queue)
	s.send(wire.Message{MsgID: 1})
	nextBatch(t, l) // the writer is now stuck on a client that reads nothing
	for id := int32(2); id < 2+queue; id++ {
		s.send(wire.Message{MsgID: id})
	}
	if s.closed.Load() {
		t.Fatal("closed before the queue overflowed")
	}
	s.send(wire.Message{MsgID: 99})
	if !s.closed.Load() {
		t.Fatal("overflow did not close the session")
	}
	select {
	case <-s.writerDone:
	case <-time.After(5 * time.Second):
		t.Fatal("writer still running")
	}
	select {
	case <-l.closed:
	default:
		t.Fatal("connection not closed")
	}
}

func TestShutdownCutsOffStuckSession(t *testing.T) {
	srv, err := New(Config{TCPAddr: "127.0.0.1:0", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	l := newFakeLink()
	sess := srv.addSession(wire.Protobuf{}, l, "fake", "test")
	go func() {
		defer srv.wg.Done()
		sess.serve()
	}()
	sess.send(wire.Message{MsgID: 1})
	nextBatch(t, l) // the writer is stuck on a client that reads nothing

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := srv.teardown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("teardown: %v, want deadline exceeded", err)
	}
	if n := srv.Sessions(); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
}

// countingLink writes at once, records every MsgID, and fails the test's
// check if two writers ever write at the same time.
type countingLink struct {
	mu       sync.Mutex
	ids      []int32
	writing  int32 // writers inside write now
	overlaps int
	closed   chan struct{}
	once     sync.Once
}

func (l *countingLink) read() ([]byte, error) { <-l.closed; return nil, errors.New("closed") }

func (l *countingLink) write(msgs []wire.Message) (int, error) {
	l.mu.Lock()
	l.writing++
	if l.writing > 1 {
		l.overlaps++
	}
	for i := range msgs {
		l.ids = append(l.ids, msgs[i].MsgID)
	}
	l.mu.Unlock()
	runtime.Gosched() // widen the window for an overlapping writer
	l.mu.Lock()
	l.writing--
	l.mu.Unlock()
	return len(msgs), nil
}

func (l *countingLink) goodbye() {}
func (l *countingLink) close()   { l.once.Do(func() { close(l.closed) }) }

// Senders racing with the writer's start and end: every envelope is
// written once, each sender's in its order, by one writer at a time; a
// graceful close after them writes what is queued and ends the writer.
func TestSessionWriterOnDemandUnderRace(t *testing.T) {
	srv, err := New(Config{TCPAddr: "127.0.0.1:0", WriteQueue: 1 << 20, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	l := &countingLink{closed: make(chan struct{})}
	s := newSession(srv, 1, wire.Protobuf{}, l, "fake", "test")
	const senders, each = 8, 2000
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				s.send(wire.Message{MsgID: int32(g*each + i)})
				if i%64 == 0 {
					runtime.Gosched() // let the writer drain and stop now and then
				}
			}
		})
	}
	wg.Wait()
	s.closeWith(graceful)
	select {
	case <-s.writerDone:
	case <-time.After(10 * time.Second):
		t.Fatal("writer did not finish the graceful close")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.overlaps != 0 {
		t.Fatalf("%d overlapping writes", l.overlaps)
	}
	if len(l.ids) != senders*each {
		t.Fatalf("%d envelopes written, want %d", len(l.ids), senders*each)
	}
	next := make([]int32, senders)
	for _, id := range l.ids {
		g := id / each
		if id%each != next[g] {
			t.Fatalf("sender %d: envelope %d written after %d", g, id%each, next[g]-1)
		}
		next[g]++
	}
}
