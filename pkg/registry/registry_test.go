package registry_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/broker/brokertest"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/registry"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// inProcess returns an in-process connection to b, closed when the test
// ends, and its JetStream.
func inProcess(t *testing.T, b *broker.Broker) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := b.InProcessConn()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func open(t *testing.T) *registry.Registry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, js := inProcess(t, brokertest.Start(t, broker.Config{DontListen: true}))
	reg, err := registry.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestViewFollowsInstancesAndOverrides(t *testing.T) {
	reg := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	view, err := reg.Watch(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := view.Lookup(1, 0); ok {
		t.Fatal("empty registry serves a route")
	}
	routes := []registry.Route{
		{Cmd: 1, Sub: 0, Service: "login", Access: registry.AccessPublic, Req: "a.B"},
		{Cmd: 1, Sub: 1, Service: "login"},
	}
	if err := reg.PublishRoutes(ctx, routes); err != nil {
		t.Fatal(err)
	}
	// Routes alone are not served: no instance yet.
	if _, ok := view.Lookup(1, 0); ok {
		t.Fatal("route served without a live instance")
	}
	in := registry.Instance{ID: "login-1", Service: "login", Started: time.Now(), Routes: []int32{1 << 16, 1<<16 | 1}}
	if err := reg.Heartbeat(ctx, in); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "route 1-0 served", func() bool {
		s, ok := view.Lookup(1, 0)
		return ok && s.Effective() == registry.AccessPublic && s.Req == "a.B" && len(s.Instances) == 1
	})

	// An operator override applies, and survives a republish from code.
	internal := registry.AccessInternal
	if err := reg.SetAccess(ctx, 1, 1, &internal); err != nil {
		t.Fatal(err)
	}
	if err := reg.PublishRoutes(ctx, routes); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "override", func() bool {
		s, ok := view.Lookup(1, 1)
		return ok && s.Effective() == registry.AccessInternal
	})
	if err := reg.SetAccess(ctx, 1, 1, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "override removed", func() bool {
		s, ok := view.Lookup(1, 1)
		return ok && s.Effective() == registry.AccessLogin
	})
	if err := reg.SetAccess(ctx, 9, 9, &internal); err == nil {
		t.Fatal("override of an unknown route must fail")
	}

	// A second instance, then both gone.
	in2 := in
	in2.ID = "login-2"
	if err := reg.Heartbeat(ctx, in2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two instances", func() bool { s, ok := view.Lookup(1, 0); return ok && len(s.Instances) == 2 })
	for _, id := range []string{"login-1", "login-2"} {
		if err := reg.Deregister(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "routes gone", func() bool { _, ok := view.Lookup(1, 0); return !ok })

	list, err := reg.Routes(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("Routes = %v, %v", list, err)
	}
	cancel()
	<-view.Done()
}

// TestUpdateBindingLinearizable: concurrent compare-and-set updates form one
// chain; every update sees exactly the one before it.
func TestUpdateBindingLinearizable(t *testing.T) {
	reg := open(t)
	ctx := context.Background()
	const n = 50
	befores := make(chan uint64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			before, after, err := reg.UpdateBinding(ctx, 42, func(b *registry.Binding) error {
				b.Gate, b.Session = "g", uint64(i+1)
				return nil
			})
			if err != nil {
				t.Error(err)
				return
			}
			if after.Session != uint64(i+1) {
				t.Errorf("after = %+v", after)
			}
			befores <- before.Session
		})
	}
	wg.Wait()
	close(befores)
	final, err := reg.Binding(ctx, 42)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for s := range befores {
		if seen[s] {
			t.Fatalf("two updates saw session %d before them", s)
		}
		seen[s] = true
	}
	// The chain: 0 (no entry) and every session but the final one were
	// each seen exactly once.
	if !seen[0] || seen[final.Session] || len(seen) != n {
		t.Fatalf("not one chain: final %d, seen %v", final.Session, seen)
	}
	if b, err := reg.Binding(ctx, 7); err != nil || b.Gate != "" {
		t.Fatalf("unknown user: %+v %v", b, err)
	}
}

func TestAccessText(t *testing.T) {
	for _, a := range []registry.Access{registry.AccessLogin, registry.AccessPublic, registry.AccessInternal} {
		b, err := a.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back registry.Access
		if err := back.UnmarshalText(b); err != nil || back != a {
			t.Fatalf("%v round trip: %v %v", a, back, err)
		}
	}
	var a registry.Access
	if err := a.UnmarshalText([]byte("root")); err == nil {
		t.Fatal("unknown access accepted")
	}
}

// Open waits for buckets that are not there yet (a broker still creating
// them, a cluster still electing its leaders) instead of failing at once,
// and gives up when its context ends.
func TestOpenWaitsForTheBuckets(t *testing.T) {
	b := brokertest.Start(t, broker.Config{})
	nc, js := inProcess(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := js.DeleteKeyValue(ctx, fabric.BucketRoutes); err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	if _, err := registry.Open(short, js); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("Open without the bucket until ctx ends: %v, want the deadline and bucket not found", err)
	}

	// The waiting Open has a connection of its own, whose requests (each
	// attempt looks the bucket's stream up) the spy tells by their inbox.
	waiter, err := nats.Connect(b.ClientURL(), nats.CustomInboxPrefix("_WAITER"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(waiter.Close)
	wjs, err := jetstream.New(waiter)
	if err != nil {
		t.Fatal(err)
	}
	lookups := make(chan struct{}, 64)
	spy, err := nc.Subscribe("$JS.API.STREAM.INFO.KV_"+fabric.BucketRoutes, func(m *nats.Msg) {
		if strings.HasPrefix(m.Reply, "_WAITER.") {
			select {
			case lookups <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = spy.Unsubscribe() }()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	opened := make(chan error, 1)
	go func() {
		_, err := registry.Open(ctx, wjs)
		opened <- err
	}()
	for range 2 { // a failed attempt, then another
		select {
		case <-lookups:
		case err := <-opened:
			t.Fatalf("Open returned before the bucket existed: %v", err)
		case <-ctx.Done():
			t.Fatal("no attempt")
		}
	}
	if err := broker.EnsureBuckets(ctx, js, 1); err != nil {
		t.Fatal(err)
	}
	if err := <-opened; err != nil {
		t.Fatalf("Open once the bucket exists: %v", err)
	}
}
