package eventbus_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/segmentio/kafka-go"

	"github.com/iogo-dev/iogo/pkg/eventbus"
	"github.com/iogo-dev/iogo/pkg/eventbus/bustest"
	"github.com/iogo-dev/iogo/pkg/eventbus/kafkatest"
	"github.com/iogo-dev/iogo/pkg/logic"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newKafka returns a bus on brokers with the test's short delays, closed
// when the test ends.
func newKafka(t testing.TB, brokers []string) *eventbus.Kafka {
	t.Helper()
	k, err := eventbus.NewKafka(eventbus.KafkaConfig{
		Brokers:           brokers,
		Partitions:        4,
		HeartbeatInterval: 100 * time.Millisecond,
		MaxWait:           100 * time.Millisecond,
		RetryDelay:        func(int) time.Duration { return 10 * time.Millisecond },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := k.Close(); err != nil {
			t.Error(err)
		}
	})
	return k
}

func TestKafkaConformance(t *testing.T) {
	bustest.Run(t, func(t *testing.T) bustest.Opener {
		brokers := kafkatest.Start(t)
		return func() logic.DurableBus { return newKafka(t, brokers) }
	})
}

// TestKafkaIdleCommit: handled events are committed once CommitInterval
// passes with nothing new, without waiting for a drain: a member that
// stops hard afterwards does not make the group read them again.
func TestKafkaIdleCommit(t *testing.T) {
	brokers := kafkatest.Start(t)
	k, err := eventbus.NewKafka(eventbus.KafkaConfig{
		Brokers: brokers, Partitions: 1, HeartbeatInterval: 100 * time.Millisecond,
		MaxWait: 100 * time.Millisecond, CommitInterval: 50 * time.Millisecond, CommitBatch: 1000,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ev := &logic.DurableEvent{Topic: "idle.commit", Header: nats.Header{"Iogo-Type": {"bytes"}}, Data: []byte("x")}
	if err := k.Publish(ctx, ev); err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	c, err := k.Consume(ctx, "idle.commit", "idlers", func(*logic.DurableEvent) error { n.Add(1); return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Stop(); <-c.Closed() }()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	cl := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: tr}
	for {
		resp, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: "idlers",
			Topics: map[string][]int{k.Topic("idle.commit"): {0}}})
		if err == nil {
			if parts := resp.Topics[k.Topic("idle.commit")]; len(parts) == 1 && parts[0].CommittedOffset == 1 {
				break // committed with no drain and no further event
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("offset never committed (handled %d): %v", n.Load(), err)
		case <-time.After(20 * time.Millisecond): // polling pace
		}
	}
	if n.Load() != 1 {
		t.Fatalf("handled %d events, want 1", n.Load())
	}
}
