package eventbus_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/broker/brokertest"
	"github.com/iogo-dev/iogo/pkg/eventbus/kafkatest"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
	demopb "github.com/iogo-dev/iogo/proto/demo"
	"github.com/nats-io/nats.go"
)

// events records what handlers saw, by name.
type events struct {
	mu  sync.Mutex
	got map[string][]int64
}

func (e *events) add(name string, seq int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.got == nil {
		e.got = make(map[string][]int64)
	}
	e.got[name] = append(e.got[name], seq)
}

func (e *events) get(name string) []int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := slices.Clone(e.got[name])
	slices.Sort(out)
	return out
}

func waitFor(t *testing.T, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for err := cond(); err != nil; err = cond() {
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
}

func startServer(t *testing.T, b *broker.Broker, bus logic.DurableBus, service string, r *route.Router) *logic.Server {
	t.Helper()
	srv, err := logic.New(logic.Config{Service: service, Router: r, Brokers: []string{b.ClientURL()},
		DurableBus: bus, DisableStats: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return srv
}

// A logic server with a Kafka bus: durable subscriptions read Kafka, a
// server's PublishDurable writes it, and subscribers that are not durable
// get the same events from NATS once they are stored.
func TestServerOnKafka(t *testing.T) {
	b := brokertest.Start(t, broker.Config{})
	brokers := kafkatest.Start(t)
	rec := &events{}
	var mu sync.Mutex
	failed := false
	r := route.NewRouter()
	route.Subscribe(r, "order.paid", func(c *logic.Ctx, m *demopb.EchoMsg) error {
		mu.Lock()
		fail := m.Seq == 2 && !failed
		failed = failed || fail
		mu.Unlock()
		if fail {
			return errors.New("try again")
		}
		rec.add("durable", m.Seq)
		return nil
	}, route.Durable())
	live := route.NewRouter()
	route.Subscribe(live, "order.paid", func(c *logic.Ctx, m *demopb.EchoMsg) error {
		rec.add("live", m.Seq)
		return nil
	})
	startServer(t, b, nil, "audit", live)

	// Published before the service ever ran: kept by Kafka.
	pubBus := newKafka(t, brokers)
	nc, err := nats.Connect(b.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	cl, err := logic.NewClient(context.Background(), logic.ClientConfig{Conn: nc, DurableBus: pubBus})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.PublishDurable(context.Background(), "order.paid", &demopb.EchoMsg{Seq: 1}); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, b, newKafka(t, brokers), "orders", r)
	waitFor(t, func() error {
		if got := rec.get("durable"); !slices.Equal(got, []int64{1}) {
			return fmt.Errorf("durable got %v", got)
		}
		return nil
	})

	// From the server's own client; 2 fails once and comes again.
	for _, seq := range []int64{2, 3} {
		if err := srv.Client().PublishDurable(context.Background(), "order.paid", &demopb.EchoMsg{Seq: seq}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() error {
		if got, live := rec.get("durable"), rec.get("live"); !slices.Equal(got, []int64{1, 2, 3}) || !slices.Equal(live, []int64{1, 2, 3}) {
			return fmt.Errorf("durable got %v, live got %v", got, live)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if !failed {
		t.Fatal("event 2 never failed")
	}
}

// Dead letters go through the server's durable bus: on Kafka, an event a
// subscription gives up on is published to the dead-letter topic's Kafka
// topic, where a durable subscriber gets it with why, and the events behind
// it go on.
func TestDeadLetterOnKafka(t *testing.T) {
	b := brokertest.Start(t, broker.Config{})
	brokers := kafkatest.Start(t)
	rec := &events{}
	var mu sync.Mutex
	tries := 0
	r := route.NewRouter()
	route.Subscribe(r, "order.paid", func(c *logic.Ctx, m *demopb.EchoMsg) error {
		if m.Seq == 1 {
			mu.Lock()
			tries++
			mu.Unlock()
			return errors.New("never works")
		}
		rec.add("handled", m.Seq)
		return nil
	}, route.Durable(), route.DeadLetter(2))
	var dmu sync.Mutex
	var dead []logic.DeadLetter
	ops := route.NewRouter()
	route.Subscribe(ops, fabric.DeadLetterTopic("orders", "order.paid"), func(c *logic.Ctx, m *demopb.EchoMsg) error {
		d, _ := c.DeadLetter()
		dmu.Lock()
		dead = append(dead, d)
		dmu.Unlock()
		rec.add("dead", m.Seq)
		return nil
	}, route.Durable())
	startServer(t, b, newKafka(t, brokers), "ops", ops)
	srv := startServer(t, b, newKafka(t, brokers), "orders", r)

	for _, seq := range []int64{1, 2} {
		if err := srv.Client().PublishDurable(context.Background(), "order.paid", &demopb.EchoMsg{Seq: seq}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() error {
		if got, dl := rec.get("handled"), rec.get("dead"); !slices.Equal(got, []int64{2}) || !slices.Equal(dl, []int64{1}) {
			return fmt.Errorf("handled %v, dead-lettered %v", got, dl)
		}
		return nil
	})
	dmu.Lock()
	defer dmu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	if d := dead[0]; tries != 2 || d.Topic != "order.paid" || d.Service != "orders" || d.Attempts != 2 || d.Error != "never works" {
		t.Fatalf("%d tries, dead letter %+v", tries, d)
	}
}
