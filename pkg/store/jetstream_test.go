package store_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

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

// TestJetStreamCluster runs the suite on a 3-node cluster, where buckets
// have 3 replicas and JetStream reports CAS conflicts with other codes.
func TestJetStreamCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	nodes := startCluster(t, 3)
	nc, err := nats.Connect(nodes[0].ClientURL() + "," + nodes[1].ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	o := store.NewJetStream(js)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := o.Open(ctx, store.Bucket{Name: "replicas"}); err != nil {
		t.Fatal(err)
	}
	st, err := js.KeyValue(ctx, "replicas")
	if err != nil {
		t.Fatal(err)
	}
	status, err := st.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := status.Config().Replicas; got != 3 {
		t.Fatalf("bucket replicas %d, want 3 like %s", got, "iogo_routes")
	}
	storetest.Run(t, func(*testing.T) store.Opener { return o })
}

// startCluster starts n clustered brokers on loopback, each given the full
// route list, and stops them when the test ends. A port taken between its
// choice and its use fails the start: the cluster is then retried.
func startCluster(t *testing.T, n int) []*broker.Broker {
	t.Helper()
	var errs []error
	for range 3 {
		nodes, err := tryCluster(t, n)
		if err == nil {
			return nodes
		}
		errs = append(errs, err)
	}
	t.Fatalf("cluster did not start: %v", errors.Join(errs...))
	return nil
}

func tryCluster(t *testing.T, n int) ([]*broker.Broker, error) {
	routes := make([]string, n)
	ports := make([]int, n)
	listeners := make([]net.Listener, n) // held together so that the ports differ
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners[i] = l
		ports[i] = l.Addr().(*net.TCPAddr).Port
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", ports[i])
	}
	for _, l := range listeners {
		_ = l.Close()
	}
	nodes := make([]*broker.Broker, n)
	for i := range n {
		b, err := broker.New(broker.Config{
			Name: fmt.Sprintf("node-%d", i), Host: "127.0.0.1", Port: -1,
			ClusterName: "store-test", ClusterPort: ports[i], Routes: routes,
		})
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = b
	}
	stopAll := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i, b := range nodes {
			wg.Go(func() { errs[i] = b.Shutdown(ctx) })
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, b := range nodes {
		wg.Go(func() { errs[i] = b.Start(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		_ = stopAll()
		return nil, err
	}
	t.Cleanup(func() {
		if err := stopAll(); err != nil {
			t.Error(err)
		}
	})
	return nodes, nil
}
