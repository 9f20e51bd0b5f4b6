package external

import (
	"context"
	"errors"
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
