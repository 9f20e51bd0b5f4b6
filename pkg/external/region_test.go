package external_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"io"
	"log/slog"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/broker/brokertest"
	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/external"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
	"github.com/iogo-dev/iogo/pkg/wire"
)

// Region actions of the test gates.
const (
	bizEcho int32 = 1 // string → "gateID:string"
	bizFail int32 = 2 // → errs.New(7, "nope")
	bizSlow int32 = 3 // duration string → waits it, or until ctx ends
)

// startRegionGate starts a TCP-only gate (no fasthttp goroutines) with the
// test region actions.
func startRegionGate(t *testing.T, ns *broker.Broker, id string) *external.Server {
	t.Helper()
	r := external.NewRegions()
	external.HandleRegion(r, bizEcho, func(ctx context.Context, s string) (string, error) {
		return external.RegionGate(ctx).ID() + ":" + s, nil
	})
	external.HandleRegion(r, bizFail, func(context.Context, string) (bool, error) {
		return false, errs.New(7, "nope")
	})
	external.HandleRegion(r, bizSlow, func(ctx context.Context, d string) (string, error) {
		dur, _ := time.ParseDuration(d)
		select {
		case <-time.After(dur):
			return "done", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	})
	g, err := external.New(external.Config{ID: id, TCPAddr: "127.0.0.1:0", Brokers: []string{ns.ClientURL()}, Regions: r,
		Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return g
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startLogic starts a logic server with router r on ns.
func startLogic(t *testing.T, ns *broker.Broker, r *route.Router) *logic.Server {
	t.Helper()
	srv, err := logic.New(logic.Config{Service: "test", Router: r, Brokers: []string{ns.ClientURL()}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return srv
}

func gatesOf[T any](res logic.AllResult[T]) []string {
	var ids []string
	for _, r := range res.Replies {
		ids = append(ids, r.Instance)
	}
	slices.Sort(ids)
	return ids
}

func TestRegionCalls(t *testing.T) {
	ns := brokertest.Start(t, broker.Config{Host: "127.0.0.1", Port: -1})
	r := route.NewRouter()
	route.Handle(r.Group(1), 0, func(c *logic.Ctx, user int64) (int64, error) { return user, c.Bind(user) }, route.Public())
	srv := startLogic(t, ns, r)
	g1 := startRegionGate(t, ns, "gate-a")
	startRegionGate(t, ns, "gate-b")
	cl := srv.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	t.Run("all", func(t *testing.T) {
		res, err := logic.RegionCallAll[string, string](ctx, cl, bizEcho, "hi")
		if err != nil || res.Partial || !slices.Equal(gatesOf(res), []string{"gate-a", "gate-b"}) {
			t.Fatalf("%+v, %v", res, err)
		}
		for _, r := range res.Replies {
			if r.Err != nil || r.Value != r.Instance+":hi" {
				t.Fatalf("reply %+v", r)
			}
		}
	})
	t.Run("all, errors per gate", func(t *testing.T) {
		for _, tc := range []struct {
			biz  int32
			code int32
		}{{bizFail, 7}, {99, errs.CodeRouteNotFound}} {
			res, err := logic.RegionCallAll[string, bool](ctx, cl, tc.biz, "")
			if err != nil || len(res.Replies) != 2 {
				t.Fatalf("bizCode %d: %+v, %v", tc.biz, res, err)
			}
			for _, r := range res.Replies {
				if errs.Code(r.Err) != tc.code {
					t.Fatalf("bizCode %d: reply %+v, want code %d", tc.biz, r, tc.code)
				}
			}
		}
	})
	t.Run("all, built-in", func(t *testing.T) {
		c, err := client.Dial(ctx, "tcp://"+g1.TCPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Heartbeat(ctx); err != nil {
			t.Fatal(err)
		}
		res, err := logic.RegionCallAll[string, int64](ctx, cl, fabric.BizSessions, "")
		if err != nil || len(res.Replies) != 2 {
			t.Fatalf("%+v, %v", res, err)
		}
		for _, r := range res.Replies {
			want := int64(0)
			if r.Instance == "gate-a" {
				want = 1
			}
			if r.Err != nil || r.Value != want {
				t.Fatalf("reply %+v, want %d", r, want)
			}
		}
	})
	t.Run("all, timeout", func(t *testing.T) {
		tctx, tcancel := context.WithTimeout(ctx, time.Second)
		defer tcancel()
		res, err := logic.RegionCallAll[string, string](tctx, cl, bizSlow, "1m")
		if err != nil {
			t.Fatal(err)
		}
		if !res.Partial || !slices.Equal(res.Missing, []string{"gate-a", "gate-b"}) || len(res.Replies) != 0 {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("one gate", func(t *testing.T) {
		v, err := logic.RegionCall[string, string](ctx, cl, "gate-b", bizEcho, "x")
		if err != nil || v != "gate-b:x" {
			t.Fatalf("%q, %v", v, err)
		}
		_, err = logic.RegionCall[string, bool](ctx, cl, "gate-b", bizFail, "")
		if !errors.Is(err, errs.New(7, "")) {
			t.Fatalf("error %v, want code 7", err)
		}
		if _, err := logic.RegionCall[string, string](ctx, cl, "gate-x", bizEcho, ""); !errors.Is(err, logic.ErrOffline) {
			t.Fatalf("unknown gate: %v", err)
		}
		tctx, tcancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer tcancel()
		if _, err := logic.RegionCall[string, string](tctx, cl, "gate-a", bizSlow, "1m"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("slow action: %v", err)
		}
	})
	t.Run("the user's gate", func(t *testing.T) {
		const user = 501
		if _, err := logic.RegionCallUser[string, string](ctx, cl, user, bizEcho, "u"); !errors.Is(err, logic.ErrOffline) {
			t.Fatalf("offline user: %v", err)
		}
		c, err := client.Dial(ctx, "tcp://"+g1.TCPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		resp, err := c.Request(ctx, 1, 0, mustValue(t, int64(user)))
		if err != nil || resp.Status != 0 {
			t.Fatalf("login: %+v, %v", resp, err)
		}
		v, err := logic.RegionCallUser[string, string](ctx, cl, user, bizEcho, "u")
		if err != nil || v != "gate-a:u" {
			t.Fatalf("%q, %v", v, err)
		}
	})
}

func mustValue[T any](t *testing.T, v T) []byte {
	t.Helper()
	val, err := wire.ValueOf[T]()
	if err != nil {
		t.Fatal(err)
	}
	b, err := val.Append(nil, wire.Protobuf{}, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRegionsRegistrationErrors(t *testing.T) {
	r := external.NewRegions()
	external.HandleRegion(r, 1, func(context.Context, string) (string, error) { return "", nil })
	external.HandleRegion(r, 1, func(context.Context, string) (string, error) { return "", nil })
	external.HandleRegion(r, -5, func(context.Context, string) (string, error) { return "", nil })
	external.HandleRegion[chan int, string](r, 2, nil)
	_, err := external.New(external.Config{TCPAddr: ":0", Regions: r})
	for _, want := range []string{"registered twice", "reserved", "bizCode 2"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New: %v, want %q", err, want)
		}
	}
}
