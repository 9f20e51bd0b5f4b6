package svcmain

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/store"
)

// A Module is a logic service that keeps data, such as the bundled login,
// guild and rank services. RunLogic and `iogo dev` drive it: they build it
// (letting it add its flags), take its routes, open it on the configured
// store backend before the first request, and close it after the server
// stopped.
type Module interface {
	// Router returns the service's routes. It is called before Open, also
	// by -dump-routes, which opens nothing; handlers run only after Open.
	Router() logic.RouteSource
	// Open opens the module's buckets on st and loads its state. srv is the
	// server that will serve the routes: its Conn and Client are ready,
	// its routes not yet subscribed.
	Open(ctx context.Context, srv *logic.Server, st store.Opener) error
	// Close releases what Open acquired; it runs after the server stopped,
	// also when Open failed or never ran.
	Close() error
}

// OpenStore returns the store backend of a module: Redis when redisURL is
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
