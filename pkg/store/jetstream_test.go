package store_test

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/broker/brokertest"
	"github.com/iogo-dev/iogo/pkg/store"
	"github.com/iogo-dev/iogo/pkg/store/storetest"
)

// startJetStream starts a broker for the test and returns a JetStream
// client on a TCP connection to it.
func startJetStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	b := brokertest.Start(t, broker.Config{})
	nc, err := nats.Connect(b.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func TestJetStream(t *testing.T) {
	js := startJetStream(t)
	storetest.Run(t, func(*testing.T) store.Opener { return store.NewJetStream(js) })
}
