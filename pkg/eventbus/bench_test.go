package eventbus_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/broker/brokertest"
	"github.com/iogo-dev/iogo/pkg/eventbus/kafkatest"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/nats-io/nats.go"
)

// Publish and consume through each bus: kfake is an in-memory fake, not a
// real Kafka, so the Kafka figures measure the client path (kafka-go's
// batching, commits batched per partition), not a broker.
func BenchmarkDurableBus(b *testing.B) {
	buses := []struct {
		name string
		open func(b *testing.B) logic.DurableBus
	}{
		{"jetstream", func(b *testing.B) logic.DurableBus {
			br := brokertest.Start(b, broker.Config{})
			nc, err := nats.Connect(br.ClientURL())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(nc.Close)
			cl, err := logic.NewClient(context.Background(), logic.ClientConfig{Conn: nc})
			if err != nil {
				b.Fatal(err)
			}
			return cl.DurableBus()
		}},
		{"kafka-kfake", func(b *testing.B) logic.DurableBus { return newKafka(b, kafkatest.Start(b)) }},
	}
	for _, bus := range buses {
		b.Run(bus.name+"/publish", func(b *testing.B) {
			d := bus.open(b)
			ctx := context.Background()
			ev := &logic.DurableEvent{Topic: "bench.pub", Header: nats.Header{"Iogo-Type": {"bytes"}}, Data: make([]byte, 64)}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := d.Publish(ctx, ev); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bus.name+"/publish-parallel", func(b *testing.B) {
			d := bus.open(b)
			ctx := context.Background()
			b.ReportAllocs()
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				ev := &logic.DurableEvent{Topic: "bench.par", Header: nats.Header{"Iogo-Type": {"bytes"}}, Data: make([]byte, 64)}
				for pb.Next() {
					if err := d.Publish(ctx, ev); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		// The events are published first (in parallel, before the timer
		// starts), then one consumer reads them all.
		b.Run(bus.name+"/consume", func(b *testing.B) {
			d := bus.open(b)
			ctx := context.Background()
			topic := "bench.con" + strconv.Itoa(b.N)
			ev := &logic.DurableEvent{Topic: topic, Header: nats.Header{"Iogo-Type": {"bytes"}}, Data: make([]byte, 64)}
			if err := d.Publish(ctx, ev); err != nil { // creates the topic
				b.Fatal(err)
			}
			var wg sync.WaitGroup
			for g := range 16 {
				wg.Go(func() {
					for i := g + 1; i < b.N; i += 16 {
						if err := d.Publish(ctx, ev); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			var n atomic.Int64
			done := make(chan struct{})
			b.ReportAllocs()
			b.ResetTimer()
			c, err := d.Consume(ctx, topic, "bench", func(*logic.DurableEvent) error {
				if n.Add(1) == int64(b.N) {
					close(done)
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			select {
			case <-done:
			case <-time.After(5 * time.Minute):
				b.Fatalf("consumed %d of %d", n.Load(), b.N)
			}
			b.StopTimer()
			c.Drain()
			<-c.Closed()
		})
	}
}
