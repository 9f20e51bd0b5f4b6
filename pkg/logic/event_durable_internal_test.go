package logic

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/broker/brokertest"
	"github.com/iogo-dev/iogo/pkg/fabric"
)

// TestDurableSlowHandler: a handler that runs for several AckWaits keeps
// its event: the bus reports it in progress, so JetStream does not deliver
// it again meanwhile.
func TestDurableSlowHandler(t *testing.T) {
	b := brokertest.Start(t, broker.Config{})
	nc, err := nats.Connect(b.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := NewClient(ctx, ClientConfig{Conn: nc})
	if err != nil {
		t.Fatal(err)
	}
	const ackWait = 300 * time.Millisecond
	bus := &jetStreamBus{cl: cl, ackWait: ackWait}
	var deliveries atomic.Int32
	done := make(chan struct{})
	cons, err := bus.Consume(ctx, "slow.work", "slowsvc", func(*DurableEvent) error {
		if deliveries.Add(1) == 1 {
			// The work of this event outlasts three AckWaits.
			select {
			case <-time.After(4 * ackWait):
			case <-ctx.Done():
			}
			close(done)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Stop()
	if err := bus.Publish(ctx, &DurableEvent{Topic: "slow.work", Header: nats.Header{}, Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	<-done
	c, err := cl.js.Consumer(ctx, fabric.EventStream("slow.work"), fabric.EventConsumer("slowsvc"))
	if err != nil {
		t.Fatal(err)
	}
	for {
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumRedelivered != 0 || deliveries.Load() != 1 {
			t.Fatalf("redelivered %d, deliveries %d: the slow event was given out again", info.NumRedelivered, deliveries.Load())
		}
		if info.NumAckPending == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("the event was never acknowledged")
		case <-time.After(10 * time.Millisecond): // polling pace
		}
	}
}
