// Package brokertest starts embedded brokers for tests: real NATS with
// JetStream and the framework's KV buckets, stopped when the test ends.
package brokertest

import (
	"context"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
)

// timeout bounds a test broker's start and its shutdown.
const timeout = 30 * time.Second

// Start runs a broker with cfg until the test ends; a zero Host and Port
// mean a random port on 127.0.0.1. It fails the test if the broker does not
// start, or does not stop cleanly.
func Start(t testing.TB, cfg broker.Config) *broker.Broker {
	t.Helper()
	if cfg.Host == "" && cfg.Port == 0 && !cfg.DontListen {
		cfg.Host, cfg.Port = "127.0.0.1", -1
	}
	b, err := broker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return b
}
