package eventbus_test

import (
	"testing"
	"time"

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
