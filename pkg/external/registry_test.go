package external

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/registry"
	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/nats-io/nats.go"
)

// status sends a request to (cmd, sub) and returns the response's status.
func status(t testing.TB, c *client.Client, cmd, sub int32) int32 {
	t.Helper()
	resp, err := c.Request(ctxT(t), cmd, sub, nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Status
}

// waitStatus polls (cmd, sub) until it answers with want. It polls gently:
// the connection's rate limit counts every request.
func waitStatus(t testing.TB, c *client.Client, cmd, sub, want int32) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := status(t, c, cmd, sub)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("route %d-%d: status %d, want %d", cmd, sub, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAccess(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	serveLogin(t, logic)
	const cmd = 5
	routes := []struct {
		sub    int32
		access registry.Access
	}{{0, registry.AccessPublic}, {1, registry.AccessLogin}, {2, registry.AccessInternal}}
	for _, r := range routes {
		serveRoutes(t, logic, fmt.Sprintf("acc-%d", r.sub), r.access, wire.Merge(cmd, r.sub))
		sub, err := logic.QueueSubscribe(fabric.Request(cmd, r.sub), "test", func(m *nats.Msg) { _ = m.Respond([]byte("ok")) })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Unsubscribe() })
	}
	reg := openRegistry(t, logic)
	g := startGate(t, ns, nil)
	c := dialT(t, tcpURL(g))

	check := func(t *testing.T, c *client.Client, want [3]int32) {
		t.Helper()
		for sub, w := range want {
			if got := status(t, c, cmd, int32(sub)); got != w {
				t.Errorf("route %d-%d: status %d, want %d", cmd, sub, got, w)
			}
		}
	}
	t.Run("before login", func(t *testing.T) {
		check(t, c, [3]int32{0, errs.CodeLoginRequired, errs.CodeRouteNotFound})
	})
	t.Run("after login", func(t *testing.T) {
		login(t, c, 51)
		check(t, c, [3]int32{0, 0, errs.CodeRouteNotFound})
	})
	t.Run("override at run time", func(t *testing.T) {
		public, internal := registry.AccessPublic, registry.AccessInternal
		if err := reg.SetAccess(ctxT(t), cmd, 2, &public); err != nil {
			t.Fatal(err)
		}
		if err := reg.SetAccess(ctxT(t), cmd, 0, &internal); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, c, cmd, 2, 0)
		waitStatus(t, c, cmd, 0, errs.CodeRouteNotFound)
		anon := dialT(t, wsURL(g))
		if err := reg.SetAccess(ctxT(t), cmd, 1, &public); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, anon, cmd, 1, 0)
		for sub := range int32(3) {
			if err := reg.SetAccess(ctxT(t), cmd, sub, nil); err != nil {
				t.Fatal(err)
			}
		}
		waitStatus(t, anon, cmd, 1, errs.CodeLoginRequired)
		waitStatus(t, c, cmd, 0, 0)
		waitStatus(t, c, cmd, 2, errs.CodeRouteNotFound)
	})
	select {
	case <-c.Done():
		t.Fatalf("connection lost: %v", c.Err())
	default:
	}
}

// TestRefusedWithoutRoundTrip proves that a refused request never reaches
// the broker: a subscriber sees every request subject, and the gate
// publishes one connection's requests in order, so when the accepted
// request that follows the refused ones arrives, nothing came before it.
func TestRefusedWithoutRoundTrip(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	respond(t, logic, 1, 1, echo)
	serveRoutes(t, logic, "private", registry.AccessLogin, wire.Merge(1, 2))
	serveRoutes(t, logic, "internal", registry.AccessInternal, wire.Merge(1, 3))
	spy := connect(t, ns)
	seen := make(chan string, 16)
	for _, subject := range []string{"iogo.req.>", "iogo.inst.>"} {
		if _, err := spy.Subscribe(subject, func(m *nats.Msg) { seen <- m.Subject }); err != nil {
			t.Fatal(err)
		}
	}
	if err := spy.Flush(); err != nil {
		t.Fatal(err)
	}
	g := startGate(t, ns, nil)
	c := dialT(t, tcpURL(g))

	tests := []struct {
		name     string
		cmd, sub int32
		want     int32
	}{
		{"unknown", 99, 9, errs.CodeRouteNotFound},
		{"login required", 1, 2, errs.CodeLoginRequired},
		{"internal", 1, 3, errs.CodeRouteNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := c.Request(ctxT(t), tt.cmd, tt.sub, nil)
			if err != nil || resp.Status != tt.want || resp.CmdMerge != wire.Merge(tt.cmd, tt.sub) {
				t.Fatalf("got %+v, %v; want status %d", resp, err, tt.want)
			}
			if resp, err := c.Request(ctxT(t), 1, 1, []byte("x")); err != nil || resp.Status != 0 {
				t.Fatalf("accepted request: %+v, %v", resp, err)
			}
			select {
			case subject := <-seen:
				if subject != fabric.Request(1, 1) {
					t.Fatalf("the broker saw %s", subject)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the spy saw nothing")
			}
		})
	}
}

// instance is a fake logic-server instance of service "test": it serves
// its routes on the service's queue group and on its own instance
// subjects, and answers with its ID.
type instance struct {
	id   string
	nc   *nats.Conn
	subs []*nats.Subscription
	hits atomic.Int64
}

func serveInstance(t testing.TB, nc *nats.Conn, id string, routes ...int32) *instance {
	t.Helper()
	in := &instance{id: id, nc: nc}
	answer := func(m *nats.Msg) {
		in.hits.Add(1)
		_ = m.Respond([]byte(id))
	}
	for _, merge := range routes {
		cmd, sub := merge>>16, merge&0xffff
		for _, subj := range []string{fabric.Request(cmd, sub), fabric.Instance(id, cmd, sub)} {
			s, err := nc.QueueSubscribe(subj, "test", answer)
			if err != nil {
				t.Fatal(err)
			}
			in.subs = append(in.subs, s)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	serveRoutes(t, nc, id, registry.AccessLogin, routes...)
	t.Cleanup(in.mute)
	return in
}

// mute stops answering, leaving the registry entry.
func (in *instance) mute() {
	for _, s := range in.subs {
		_ = s.Unsubscribe()
	}
	_ = in.nc.Flush()
}

func TestLogicBinding(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	serveLogin(t, logic)
	reg := openRegistry(t, logic)
	route := wire.Merge(6, 0)
	i1 := serveInstance(t, logic, "i1", route)
	i2 := serveInstance(t, logic, "i2", route)
	g := startGate(t, ns, nil)
	const user = 61
	served := func(t *testing.T, c *client.Client, n int) map[string]int {
		t.Helper()
		got := map[string]int{}
		for range n {
			resp, err := c.Request(ctxT(t), 6, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != 0 {
				got[fmt.Sprint(resp.Status)]++
			} else {
				got[string(resp.Data)]++
			}
		}
		return got
	}
	outer := t
	c := dialT(t, tcpURL(g))
	login(t, c, user)

	t.Run("unbound requests spread", func(t *testing.T) {
		if got := served(t, c, 40); got["i1"] == 0 || got["i2"] == 0 {
			t.Fatalf("served by %v", got)
		}
	})
	t.Run("bound requests stay", func(t *testing.T) {
		// What BindLogic does: write the binding, then tell the gate.
		if _, _, err := reg.UpdateBinding(ctxT(t), user, func(b *registry.Binding) error {
			b.Logic = map[string]string{"test": "i2"}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := control(logic, fabric.UserControl(user), fabric.Control{Op: fabric.OpBindLogic, Service: "test", Instance: "i2"}); err != nil {
			t.Fatal(err)
		}
		if got := served(t, c, 20); got["i2"] != 20 {
			t.Fatalf("served by %v", got)
		}
	})
	t.Run("binding survives reconnect", func(t *testing.T) {
		_ = c.Close()
		c = dialT(outer, wsURL(g))
		login(t, c, user)
		if got := served(t, c, 20); got["i2"] != 20 {
			t.Fatalf("served by %v", got)
		}
	})
	t.Run("instance gone", func(t *testing.T) {
		// i2 still answers, but the registry no longer lists it: the gate
		// refuses on its own.
		if err := reg.Deregister(ctxT(t), "i2"); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, c, 6, 0, errs.CodeLogicGone)
		resp, err := c.Request(ctxT(t), 6, 0, nil)
		if err != nil || resp.ValidMsg != errs.ErrLogicGone.Msg {
			t.Fatalf("got %+v, %v", resp, err)
		}
		serveRoutes(t, logic, "i2", registry.AccessLogin, route) // back
		waitStatus(t, c, 6, 0, 0)
	})
	t.Run("silent instance", func(t *testing.T) {
		// Still listed, but no longer subscribed: no responders.
		i2.mute()
		if got := served(t, c, 3); got[fmt.Sprint(errs.CodeLogicGone)] != 3 {
			t.Fatalf("served by %v", got)
		}
	})
	t.Run("unbind", func(t *testing.T) {
		if _, err := control(logic, fabric.UserControl(user), fabric.Control{Op: fabric.OpBindLogic, Service: "test"}); err != nil {
			t.Fatal(err)
		}
		if got := served(t, c, 5); got["i1"] != 5 {
			t.Fatalf("served by %v", got)
		}
	})
	t.Run("bind-logic needs a service", func(t *testing.T) {
		if _, err := control(logic, fabric.UserControl(user), fabric.Control{Op: fabric.OpBindLogic, Instance: "i1"}); err == nil {
			t.Fatal("accepted")
		}
	})
	if i1.hits.Load() == 0 {
		t.Fatal("i1 never served")
	}
}

// TestBindLogicDuringLogin: a logic binding written and announced while the
// user logs in is not lost, whichever comes first.
func TestBindLogicDuringLogin(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	serveLogin(t, logic)
	reg := openRegistry(t, logic)
	route := wire.Merge(6, 0)
	serveInstance(t, logic, "i1", route)
	serveInstance(t, logic, "i2", route)
	g := startGate(t, ns, nil)
	for i := range 10 {
		user := int64(600 + i)
		c := dialT(t, tcpURL(g))
		var wg sync.WaitGroup
		wg.Go(func() { login(t, c, user) })
		wg.Go(func() {
			if _, _, err := reg.UpdateBinding(ctxT(t), user, func(b *registry.Binding) error {
				b.Logic = map[string]string{"test": "i2"}
				return nil
			}); err != nil {
				t.Error(err)
			}
			_, err := control(logic, fabric.UserControl(user), fabric.Control{Op: fabric.OpBindLogic, Service: "test", Instance: "i2"})
			if err != nil && !errors.Is(err, nats.ErrNoResponders) {
				t.Error(err)
			}
		})
		wg.Wait()
		for range 5 {
			resp, err := c.Request(ctxT(t), 6, 0, nil)
			if err != nil || string(resp.Data) != "i2" {
				t.Fatalf("user %d: %+v, %v", user, resp, err)
			}
		}
		_ = c.Close()
	}
}
