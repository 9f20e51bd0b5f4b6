package broker_test

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/fabric"
)

// An in-process broker, as `iogo dev` runs it: no socket, JetStream in a
// temporary directory, the framework buckets ready when Start returns.
func Example() {
	b, err := broker.New(broker.Config{DontListen: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer b.Shutdown(context.Background())

	nc, err := b.InProcessConn()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	for _, name := range fabric.Buckets() {
		kv, err := js.KeyValue(ctx, name)
		if err != nil {
			fmt.Println(err)
			return
		}
		st, _ := kv.Status(ctx)
		fmt.Println(st.Bucket(), st.TTL())
	}
	// Output:
	// iogo_bindings 0s
	// iogo_routes 0s
	// iogo_services 15s
}
