// Package kafkatest starts an in-process Kafka for tests: kfake from
// github.com/twmb/franz-go, a fake cluster that speaks the Kafka protocol
// on loopback ports. It is not a real Kafka (no replication, simplified
// group coordinator, storage in memory), so tests on it check the
// protocol-level behaviour of a client, not Kafka's performance or
// durability.
package kafkatest

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Start starts a one-broker fake Kafka on a random loopback port, closed
// when the test ends, and returns its bootstrap addresses.
func Start(tb testing.TB) []string {
	tb.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		tb.Fatalf("kafkatest: start kfake: %v", err)
	}
	tb.Cleanup(c.Close)
	return c.ListenAddrs()
}
