package broker_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/fabric"
)

// clusterStartTimeout bounds the start of a fresh cluster: a split first
// election costs a Raft election timeout (4–9 s), rarely more than once.
const clusterStartTimeout = 45 * time.Second

// startCluster starts n clustered nodes on loopback, all at once, each given
// the full route list. Ports are picked free beforehand; when one is taken in
// between (Start fails), the whole cluster is retried on new ports.
func startCluster(t *testing.T, n int) []*broker.Broker {
	t.Helper()
	const attempts = 3
	var lastErr error
	for attempt := range attempts {
		nodes, err := tryCluster(t, n)
		if err == nil {
			return nodes
		}
		lastErr = err
		t.Logf("cluster attempt %d: %v", attempt+1, err)
	}
	t.Fatalf("cluster did not start: %v", lastErr)
	return nil
}

func tryCluster(t *testing.T, n int) ([]*broker.Broker, error) {
	t.Helper()
	ports := freePorts(t, n)
	routes := make([]string, n)
	for i, p := range ports {
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", p)
	}
	nodes := make([]*broker.Broker, n)
	for i := range nodes {
		b, err := broker.New(broker.Config{
			Name:        fmt.Sprintf("node-%d", i),
			Host:        "127.0.0.1",
			Port:        -1,
			ClusterName: "iogo-test",
			ClusterPort: ports[i],
			Routes:      routes,
		})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		nodes[i] = b
	}

	ctx, cancel := context.WithTimeout(t.Context(), clusterStartTimeout)
	defer cancel()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, b := range nodes {
		wg.Go(func() { errs[i] = b.Start(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, b := range nodes {
			shutdown(t, b)
		}
		return nil, err
	}
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, b := range nodes {
			wg.Go(func() { shutdown(t, b) })
		}
		wg.Wait()
	})
	return nodes, nil
}

func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	begin := time.Now()
	nodes := startCluster(t, 3)
	t.Logf("3-node cluster with R3 buckets ready in %v", time.Since(begin).Round(time.Millisecond))

	for i, b := range nodes {
		if got := b.ClusterURL(); got == "" {
			t.Errorf("node %d: empty ClusterURL", i)
		}
		if got := b.Replicas(); got != 3 {
			t.Errorf("node %d: Replicas() = %d, want 3", i, got)
		}
		if !b.Server().JetStreamIsClustered() {
			t.Errorf("node %d: JetStream not clustered", i)
		}
	}

	// A client on any node sees the R3 buckets, each with a leader and two
	// current followers.
	nc, err := nats.Connect(nodes[2].ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	checkBuckets(ctx, t, js, 3)
	for _, name := range fabric.Buckets() {
		kv, err := js.KeyValue(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, func() error {
			st, err := kv.Status(ctx)
			if err != nil {
				return err
			}
			ci := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Cluster
			if ci == nil || ci.Leader == "" || len(ci.Replicas) != 2 {
				return fmt.Errorf("bucket %s: cluster info %+v", name, ci)
			}
			return nil
		})
	}

	// A write through one node is read through another.
	kv0, err := js.KeyValue(ctx, fabric.BucketBindings)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv0.Put(ctx, "u1", []byte("logic-1")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	nc0, err := nodes[0].InProcessConn()
	if err != nil {
		t.Fatal(err)
	}
	defer nc0.Close()
	js0, err := jetstream.New(nc0)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js0.KeyValue(ctx, fabric.BucketBindings)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() error {
		e, err := kv.Get(ctx, "u1")
		if err != nil {
			return err
		}
		if string(e.Value()) != "logic-1" {
			return fmt.Errorf("value %q", e.Value())
		}
		return nil
	})
}
