package svcmain

import (
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/iogo-dev/iogo/pkg/store"
)

// OpenStore returns the store backend of a module (logic.Module): Redis when redisURL is
// set (redis://[:password@]host:port/db), else the JetStream of the broker
// nc is connected to. close releases the Redis client; it is a no-op for
// JetStream.
func OpenStore(nc *nats.Conn, redisURL string) (st store.Opener, close func() error, err error) {
	if redisURL != "" {
		rdb, err := store.RedisFromURL(redisURL)
		if err != nil {
			return nil, nil, fmt.Errorf("-redis: %w", err)
		}
		return store.NewRedis(rdb), rdb.Close, nil
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, nil, fmt.Errorf("store: %w", err)
	}
	return store.NewJetStream(js), func() error { return nil }, nil
}
