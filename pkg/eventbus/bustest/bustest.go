// Package bustest is the conformance suite of logic.DurableBus: every
// implementation (JetStream in package logic, Kafka in package eventbus)
// runs it with Run, as testing/slogtest does for slog handlers.
package bustest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/nats-io/nats.go"
)

// Timeout bounds each wait of the suite for an event.
const Timeout = 30 * time.Second

// Opener opens a bus on the server start started; the bus is closed when
// the subtest ends. Each bus stands for one instance of a service.
type Opener func() logic.DurableBus

// Run runs the suite. start starts a fresh server for one subtest (stopped
// when the subtest ends) and returns how to open buses on it.
func Run(t *testing.T, start func(t *testing.T) Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newBus Opener)
	}{
		{"PublishBeforeConsume", testPublishBeforeConsume},
		{"SharedGroup", testSharedGroup},
		{"Retry", testRetry},
		{"BadEvent", testBadEvent},
		{"DrainCommits", testDrainCommits},
		{"Groups", testGroups},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, start(t)) })
	}
}

// recorder records the events handled, by consumer.
type recorder struct {
	mu   sync.Mutex
	by   map[string][]int
	hdrs []nats.Header
}

func newRecorder() *recorder { return &recorder{by: make(map[string][]int)} }

// handler records the events that consumer handles.
func (r *recorder) handler(consumer string) logic.DurableHandler {
	return func(ev *logic.DurableEvent) error {
		n, err := seqOf(ev)
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.by[consumer] = append(r.by[consumer], n)
		r.hdrs = append(r.hdrs, ev.Header)
		r.mu.Unlock()
		return nil
	}
}

func (r *recorder) get(consumer string) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.by[consumer])
}

// all returns every event handled, sorted.
func (r *recorder) all() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for _, s := range r.by {
		out = append(out, s...)
	}
	slices.Sort(out)
	return out
}

func seqOf(ev *logic.DurableEvent) (int, error) {
	n, err := strconv.Atoi(string(ev.Data))
	if err != nil {
		return 0, fmt.Errorf("%w: %q", logic.ErrBadEvent, ev.Data)
	}
	return n, nil
}

// publish publishes the events seqs on behalf of no user.
func publish(t *testing.T, bus logic.DurableBus, topic string, seqs ...int) {
	t.Helper()
	publishAs(t, bus, topic, "", seqs...)
}

// publishAs publishes the events seqs on behalf of user ("": none).
func publishAs(t *testing.T, bus logic.DurableBus, topic, user string, seqs ...int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	for _, n := range seqs {
		h := nats.Header{fabric.HeaderType: {"bytes"}, "Traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}
		if user != "" {
			h[fabric.HeaderUser] = []string{user}
		}
		if err := bus.Publish(ctx, &logic.DurableEvent{Topic: topic, Header: h, Data: []byte(strconv.Itoa(n))}); err != nil {
			t.Fatalf("publish %d: %v", n, err)
		}
	}
}

func consume(t *testing.T, bus logic.DurableBus, topic, group string, h logic.DurableHandler) logic.DurableConsumer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	c, err := bus.Consume(ctx, topic, group, h)
	if err != nil {
		t.Fatalf("consume %s as %s: %v", topic, group, err)
	}
	t.Cleanup(func() { stop(t, c) })
	return c
}

// drain drains c and waits until it is closed.
func drain(t *testing.T, c logic.DurableConsumer) {
	t.Helper()
	c.Drain()
	waitClosed(t, c)
}

func stop(t *testing.T, c logic.DurableConsumer) {
	t.Helper()
	c.Stop()
	waitClosed(t, c)
}

func waitClosed(t *testing.T, c logic.DurableConsumer) {
	t.Helper()
	select {
	case <-c.Closed():
	case <-time.After(Timeout):
		t.Fatal("consumer not closed")
	}
}

// waitFor polls cond until it returns nil or Timeout passes.
func waitFor(t *testing.T, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // poll interval, not a timing assumption
	}
}

func seqs(from, to int) []int {
	var s []int
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// Events published before the group's first consumer are delivered to
// it with their headers; those of one user in order.
func testPublishBeforeConsume(t *testing.T, newBus Opener) {
	bus := newBus()
	publishAs(t, bus, "suite.before", "42", 1, 2, 3)
	rec := newRecorder()
	consume(t, bus, "suite.before", "svc", rec.handler("a"))
	waitFor(t, func() error {
		if got := rec.get("a"); !slices.Equal(got, []int{1, 2, 3}) {
			return fmt.Errorf("got %v", got)
		}
		return nil
	})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, h := range rec.hdrs {
		if h.Get("Traceparent") == "" || h.Get(fabric.HeaderType) != "bytes" || h.Get(fabric.HeaderUser) != "42" {
			t.Fatalf("headers lost: %v", h)
		}
	}
}

// Two consumers of one group share the events: each is handled once, and
// both get some.
func testSharedGroup(t *testing.T, newBus Opener) {
	bus1, bus2 := newBus(), newBus()
	rec := newRecorder()
	c1 := consume(t, bus1, "suite.shared", "svc", rec.handler("a"))
	c2 := consume(t, bus2, "suite.shared", "svc", rec.handler("b"))
	// Publish until both have had work: a group shares its events only
	// once both consumers have joined it.
	n := 0
	waitFor(t, func() error {
		n++
		publish(t, bus1, "suite.shared", n)
		if len(rec.get("a")) == 0 || len(rec.get("b")) == 0 {
			return fmt.Errorf("after %d events: a got %v, b got %v", n, rec.get("a"), rec.get("b"))
		}
		return nil
	})
	waitFor(t, func() error {
		if got := rec.all(); len(got) < n {
			return fmt.Errorf("%d of %d events handled", len(got), n)
		}
		return nil
	})
	drain(t, c1)
	drain(t, c2)
	if got := rec.all(); !slices.Equal(got, seqs(1, n)) {
		t.Fatalf("events handled %v, want each of 1..%d once", got, n)
	}
}

// A failing handler gets its event again, with a growing attempt count,
// and the events after it are handled too.
func testRetry(t *testing.T, newBus Opener) {
	bus := newBus()
	var mu sync.Mutex
	attempts := map[int][]int{}
	var done []int
	consume(t, bus, "suite.retry", "svc", func(ev *logic.DurableEvent) error {
		n, err := seqOf(ev)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		attempts[n] = append(attempts[n], ev.Attempt)
		if n == 1 && len(attempts[n]) < 3 {
			return errors.New("not yet")
		}
		done = append(done, n)
		return nil
	})
	publish(t, bus, "suite.retry", 1, 2)
	waitFor(t, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(done) != 2 {
			return fmt.Errorf("done %v, attempts %v", done, attempts)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(attempts[1], []int{1, 2, 3}) || !slices.Equal(attempts[2], []int{1}) {
		t.Fatalf("attempts %v", attempts)
	}
}

// An event whose handler returns logic.ErrBadEvent is acknowledged, not
// retried.
func testBadEvent(t *testing.T, newBus Opener) {
	bus := newBus()
	ctx := context.Background()
	if err := bus.Publish(ctx, &logic.DurableEvent{Topic: "suite.bad", Data: []byte("garbage")}); err != nil {
		t.Fatal(err)
	}
	publish(t, bus, "suite.bad", 7)
	var mu sync.Mutex
	var calls []string
	c := consume(t, bus, "suite.bad", "svc", func(ev *logic.DurableEvent) error {
		mu.Lock()
		calls = append(calls, string(ev.Data))
		mu.Unlock()
		_, err := seqOf(ev)
		return err
	})
	waitFor(t, func() error {
		mu.Lock()
		defer mu.Unlock()
		if !slices.Contains(calls, "7") || !slices.Contains(calls, "garbage") {
			return fmt.Errorf("calls %q", calls)
		}
		return nil
	})
	drain(t, c)
	// A new consumer of the group finds nothing left.
	publish(t, bus, "suite.bad", 8)
	rec := newRecorder()
	consume(t, bus, "suite.bad", "svc", rec.handler("b"))
	waitFor(t, func() error {
		if got := rec.get("b"); !slices.Equal(got, []int{8}) {
			return fmt.Errorf("new consumer got %v", got)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if slices.Sort(calls); !slices.Equal(calls, []string{"7", "garbage"}) {
		t.Fatalf("calls %q", calls)
	}
}

// Draining a consumer lets its handler in flight finish and acknowledges
// what it handled: the group's next consumer starts after it.
func testDrainCommits(t *testing.T, newBus Opener) {
	bus := newBus()
	publish(t, bus, "suite.drain", 1, 2, 3)
	release := make(chan struct{})
	entered := make(chan struct{})
	rec := newRecorder()
	h := rec.handler("a")
	calls := 0
	c := consume(t, bus, "suite.drain", "svc", func(ev *logic.DurableEvent) error {
		if calls++; calls == 3 {
			close(entered)
			<-release // Drain is called while this handler runs
		}
		return h(ev)
	})
	select {
	case <-entered:
	case <-time.After(Timeout):
		t.Fatalf("third event not delivered; got %v", rec.get("a"))
	}
	c.Drain()
	close(release)
	waitClosed(t, c)
	if got := rec.all(); !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("first consumer handled %v", got)
	}
	publish(t, bus, "suite.drain", 4)
	consume(t, bus, "suite.drain", "svc", rec.handler("b"))
	waitFor(t, func() error {
		if got := rec.get("b"); !slices.Equal(got, []int{4}) {
			return fmt.Errorf("second consumer got %v", got)
		}
		return nil
	})
}

// Each group gets every event.
func testGroups(t *testing.T, newBus Opener) {
	bus := newBus()
	rec := newRecorder()
	consume(t, bus, "suite.groups", "svc-a", rec.handler("a"))
	consume(t, bus, "suite.groups", "svc-b", rec.handler("b"))
	publish(t, bus, "suite.groups", seqs(1, 10)...)
	waitFor(t, func() error {
		a, b := rec.get("a"), rec.get("b")
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, seqs(1, 10)) || !slices.Equal(b, seqs(1, 10)) {
			return fmt.Errorf("a got %v, b got %v", a, b)
		}
		return nil
	})
}
