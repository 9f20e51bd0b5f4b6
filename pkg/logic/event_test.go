package logic_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/eventbus/bustest"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
	demopb "github.com/iogo-dev/iogo/proto/demo"
	"github.com/iogo-dev/iogo/proto/iohao"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// received records events by the instance that handled them.
type received struct {
	mu sync.Mutex
	by map[string][]int64
}

func newReceived() *received { return &received{by: make(map[string][]int64)} }

func (r *received) add(instance string, seq int64) {
	r.mu.Lock()
	r.by[instance] = append(r.by[instance], seq)
	r.mu.Unlock()
}

func (r *received) get(instance string) []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.by[instance])
}

func (r *received) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.by {
		n += len(s)
	}
	return n
}

// recordEvents returns a router whose subscription to topic records the
// events' Seq by instance.
func recordEvents(rec *received, topic string, opts ...route.EventOption) *route.Router {
	r := route.NewRouter()
	route.Subscribe(r, topic, func(c *logic.Ctx, m *demopb.EchoMsg) error {
		rec.add(c.InstanceID(), m.Seq)
		return nil
	}, opts...)
	return r
}

func seqs(n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = int64(i + 1)
	}
	return s
}

func TestEventDelivery(t *testing.T) {
	b := startNATS(t)
	every, one := newReceived(), newReceived()
	for _, id := range []string{"ev-a1", "ev-a2"} {
		startLogic(t, b, recordEvents(every, "score.changed"), withService("ev-a"), withInstance(id))
	}
	for _, id := range []string{"ev-b1", "ev-b2"} {
		startLogic(t, b, recordEvents(one, "score.changed", route.OnePerService()), withService("ev-b"), withInstance(id))
	}
	cl := newCallClient(t, connect(t, b))
	const n = 20
	for _, seq := range seqs(n) {
		if err := cl.Publish(context.Background(), "score.changed", &demopb.EchoMsg{Seq: seq}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, func() error {
		if got := every.total(); got != 2*n {
			return fmt.Errorf("every instance: %d events", got)
		}
		if got := one.total(); got != n {
			return fmt.Errorf("one per service: %d events", got)
		}
		return nil
	})
	// Every instance: each got all of them, in publication order.
	for _, id := range []string{"ev-a1", "ev-a2"} {
		if got := every.get(id); !slices.Equal(got, seqs(n)) {
			t.Fatalf("%s got %v", id, got)
		}
	}
	// One per service: each event reached exactly one instance.
	all := append(one.get("ev-b1"), one.get("ev-b2")...)
	slices.Sort(all)
	if !slices.Equal(all, seqs(n)) {
		t.Fatalf("one per service got %v", all)
	}
	if every.total() != 2*n || one.total() != n {
		t.Fatalf("extra events: %d, %d", every.total(), one.total())
	}
}

func TestEventFromHandler(t *testing.T) {
	b := startNATS(t)
	type seen struct {
		user int64
		text string
	}
	got := make(chan seen, 10)
	r := route.NewRouter()
	route.HandleVoid(r.Group(6), 0, func(c *logic.Ctx, text string) error {
		return c.Publish("user.said", logic.Wrap(text))
	})
	// A bare value arrives in its wrapper; a subscriber takes the value.
	route.Subscribe(r, "user.said", func(c *logic.Ctx, text string) error {
		got <- seen{c.UserID(), text}
		return nil
	})
	// The wrong type is dropped, not decoded into garbage.
	route.Subscribe(r, "user.other", func(c *logic.Ctx, n int64) error {
		got <- seen{-1, fmt.Sprint(n)}
		return nil
	})
	startLogic(t, b, r, withService("chat"))
	nc := connect(t, b)
	cl := newCallClient(t, nc)

	if err := cl.Publish(context.Background(), "user.other", &iohao.StringValue{Value: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, rep := ask[string, string](t, nc, "", fabric.Meta{Cmd: 6, Sub: 0, UserID: 42, Session: 1}, "hi"); rep.Status != 0 {
		t.Fatalf("status %d %q", rep.Status, rep.Error)
	}
	select {
	case s := <-got:
		if s.user != 42 || s.text != "hi" {
			t.Fatalf("got %+v", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("event not delivered")
	}
	select {
	case s := <-got:
		t.Fatalf("unexpected event %+v", s)
	default:
	}
}

func TestEventValidation(t *testing.T) {
	r := route.NewRouter()
	noop := func(*logic.Ctx, string) error { return nil }
	route.Subscribe(r, "a.b", noop)
	route.Subscribe(r, "a.b", noop, route.Durable())
	route.Subscribe(r, "bad topic", noop)
	route.Subscribe(r, "a..b", noop)
	route.Subscribe(r, "a.*", noop)
	route.Subscribe(r, "ok", func(*logic.Ctx, struct{}) error { return nil })
	route.Subscribe(r, "dl.live", noop, route.DeadLetter(3))
	route.Subscribe(r, "dl.zero", noop, route.Durable(), route.DeadLetter(0))
	_, err := r.Routes()
	for _, want := range []string{`"a.b" subscribed twice`, `"bad topic"`, `"a..b"`, `"a.*"`, "struct {}",
		`"dl.live": DeadLetter needs`, `"dl.zero": DeadLetter needs`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
	if evs := r.Events(); len(evs) != 1 || evs[0].Topic != "a.b" || evs[0].Delivery != logic.EveryInstance {
		t.Fatalf("events %+v", evs)
	}
	if err := logic.NewCtx(context.Background(), fabric.Meta{}, nil).Publish("a.b", nil); !errors.Is(err, logic.ErrNoServer) {
		t.Fatalf("Publish outside a server: %v", err)
	}
}

func TestEventDurable(t *testing.T) {
	b := startNATS(t)
	rec := newReceived()
	var mu sync.Mutex
	attempts := map[int64]int{}
	// Seq 100 fails on its first delivery, 200 panics on its first: both
	// must come again.
	handler := func(c *logic.Ctx, m *demopb.EchoMsg) error {
		mu.Lock()
		attempts[m.Seq]++
		n := attempts[m.Seq]
		mu.Unlock()
		switch {
		case m.Seq == 100 && n == 1:
			return errors.New("try again")
		case m.Seq == 200 && n == 1:
			panic("crash in handler")
		}
		rec.add(c.InstanceID(), m.Seq)
		return nil
	}
	sub := func() *route.Router {
		r := route.NewRouter()
		route.Subscribe(r, "order.paid", handler, route.Durable())
		return r
	}
	cl := newCallClient(t, connect(t, b))
	ctx := context.Background()
	publish := func(seq int64) {
		t.Helper()
		if err := cl.PublishDurable(ctx, "order.paid", &demopb.EchoMsg{Seq: seq}); err != nil {
			t.Fatal(err)
		}
	}
	waitSeqs := func(id string, want ...int64) {
		t.Helper()
		waitFor(t, 10*time.Second, func() error {
			if got := rec.get(id); !slices.Equal(got, want) {
				return fmt.Errorf("%s got %v, want %v", id, got, want)
			}
			return nil
		})
	}

	// Published before any subscriber ever ran: kept in the stream.
	publish(1)
	srv1 := startDurable(t, b, sub(), "dur-1")
	waitSeqs("dur-1", 1)

	// Published while the service is down: delivered once it is back,
	// and what was acknowledged before is not delivered again.
	stopServer(t, srv1)
	publish(2)
	publish(3)
	startDurable(t, b, sub(), "dur-2")
	waitSeqs("dur-2", 2, 3)

	// A failing or panicking handler gets the event again.
	publish(100)
	publish(200)
	waitFor(t, 10*time.Second, func() error {
		got := rec.get("dur-2")
		slices.Sort(got)
		if !slices.Equal(got, []int64{2, 3, 100, 200}) {
			return fmt.Errorf("got %v", got)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if attempts[100] != 2 || attempts[200] != 2 || attempts[1] != 1 || attempts[2] != 1 {
		t.Fatalf("attempts %v", attempts)
	}

	// One stream per topic, one durable consumer per service.
	js, err := jetstream.New(connect(t, b))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Consumer(ctx, fabric.EventStream("order.paid"), fabric.EventConsumer("dur")); err != nil {
		t.Fatalf("consumer: %v", err)
	}
}

// startDurable starts an instance of service "dur".
func startDurable(t *testing.T, b *broker.Broker, r *route.Router, id string) *logic.Server {
	t.Helper()
	return startLogic(t, b, r, withService("dur"), withInstance(id))
}

// stopServer shuts srv down now (its cleanup then does nothing).
func stopServer(t *testing.T, srv *logic.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// The default durable bus (JetStream) passes the conformance suite.
func TestDurableBusJetStream(t *testing.T) {
	bustest.Run(t, func(t *testing.T) bustest.Opener {
		b := startNATS(t)
		return func() logic.DurableBus {
			cl, err := logic.NewClient(context.Background(), logic.ClientConfig{Conn: connect(t, b)})
			if err != nil {
				t.Fatal(err)
			}
			return cl.DurableBus()
		}
	})
}

// A durable subscription with route.DeadLetter gives up on an event after
// its attempts (a malformed one at once), parks it on the dead-letter topic
// with why, and goes on with the events behind it.
func TestEventDeadLetter(t *testing.T) {
	b := startNATS(t)
	var mu sync.Mutex
	attempts := map[int64]int{}
	handled := newReceived()
	r := route.NewRouter()
	route.Subscribe(r, "order.paid", func(c *logic.Ctx, m *demopb.EchoMsg) error {
		mu.Lock()
		attempts[m.Seq]++
		mu.Unlock()
		if m.Seq == 7 {
			return errors.New("card declined\r\nno retry helps")
		}
		handled.add(c.InstanceID(), m.Seq)
		return nil
	}, route.Durable(), route.DeadLetter(3))
	startDurable(t, b, r, "dur-1")

	type dead struct {
		d    logic.DeadLetter
		data []byte
	}
	var dmu sync.Mutex
	var got []dead
	ops := route.NewRouter()
	route.Subscribe(ops, fabric.DeadLetterTopic("dur", "order.paid"), func(c *logic.Ctx, data []byte) error {
		d, ok := c.DeadLetter()
		if !ok {
			return fmt.Errorf("%w: not a dead letter", logic.ErrBadEvent)
		}
		dmu.Lock()
		got = append(got, dead{d, data})
		dmu.Unlock()
		return nil
	}, route.Durable())
	startLogic(t, b, ops, withService("ops"), withInstance("ops-1"))

	cl := newCallClient(t, connect(t, b))
	ctx := context.Background()
	before := time.Now().Add(-time.Second)
	for _, msg := range []proto.Message{&demopb.EchoMsg{Seq: 7}, logic.Wrap("not an order"), &demopb.EchoMsg{Seq: 8}} {
		if err := cl.PublishDurable(ctx, "order.paid", msg); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, func() error {
		dmu.Lock()
		defer dmu.Unlock()
		if len(got) != 2 || !slices.Equal(handled.get("dur-1"), []int64{8}) {
			return fmt.Errorf("dead letters %+v, handled %v", got, handled.get("dur-1"))
		}
		return nil
	})
	dmu.Lock()
	defer dmu.Unlock()
	slices.SortFunc(got, func(a, b dead) int { return a.d.Attempts - b.d.Attempts })
	for i, tc := range []struct {
		attempts int
		err      string
		payload  proto.Message
	}{
		{1, "payload type iohao.StringValue", logic.Wrap("not an order")}, // malformed: at once
		{3, "card declined  no retry helps", &demopb.EchoMsg{Seq: 7}},     // after its attempts
	} {
		d := got[i].d
		want, _ := proto.Marshal(tc.payload)
		if d.Topic != "order.paid" || d.Service != "dur" || d.Attempts != tc.attempts ||
			!strings.Contains(d.Error, tc.err) || d.At.Before(before) || !bytes.Equal(got[i].data, want) {
			t.Errorf("dead letter %d: %+v payload %x, want %d attempts, error with %q, payload %x",
				i, d, got[i].data, tc.attempts, tc.err, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if attempts[7] != 3 || attempts[8] != 1 {
		t.Fatalf("attempts %v", attempts)
	}
	// Outside a dead-letter handler there is nothing to tell.
	if _, ok := logic.NewCtx(ctx, fabric.Meta{}, nil).DeadLetter(); ok {
		t.Fatal("DeadLetter outside a dead-letter event")
	}
}

// crashedBus is a durable bus on which every event seems to have been
// delivered extra times before, to instances that crashed in its handler.
type crashedBus struct {
	logic.DurableBus
	extra int
}

func (b crashedBus) Consume(ctx context.Context, topic, group string, handle logic.DurableHandler) (logic.DurableConsumer, error) {
	return b.DurableBus.Consume(ctx, topic, group, func(ev *logic.DurableEvent) error {
		ev.Attempt += b.extra
		return handle(ev)
	})
}

// An event delivered more often than its subscription's MaxAttempts
// without its handler ever finishing (a handler that crashes the process)
// is dead-lettered without running the handler again.
func TestEventDeadLetterAfterCrashes(t *testing.T) {
	b := startNATS(t)
	cl := newCallClient(t, connect(t, b))
	var calls atomic.Int32
	r := route.NewRouter()
	route.Subscribe(r, "order.paid", func(*logic.Ctx, *demopb.EchoMsg) error {
		calls.Add(1)
		return nil
	}, route.Durable(), route.DeadLetter(2))
	startLogic(t, b, r, withService("dur"), withInstance("dur-1"), func(c *logic.Config) {
		c.DurableBus = crashedBus{cl.DurableBus(), 3}
	})
	dead := make(chan logic.DeadLetter, 1)
	ops := route.NewRouter()
	route.Subscribe(ops, fabric.DeadLetterTopic("dur", "order.paid"), func(c *logic.Ctx, _ []byte) error {
		d, _ := c.DeadLetter()
		dead <- d
		return nil
	}, route.Durable())
	startLogic(t, b, ops, withService("ops"), withInstance("ops-1"))

	if err := cl.PublishDurable(context.Background(), "order.paid", &demopb.EchoMsg{Seq: 1}); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-dead:
		if d.Attempts != 4 || !strings.Contains(d.Error, "more than MaxAttempts 2") {
			t.Fatalf("dead letter %+v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no dead letter")
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("handler ran %d times", n)
	}
}
