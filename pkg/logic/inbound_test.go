package logic_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/nats-io/nats.go"
)

// TestInboundFull: requests that find the inbound buffer full are answered
// "server busy", counted and logged — none is dropped — and the others
// still run in order, across routes.
func TestInboundFull(t *testing.T) {
	ns := startNATS(t)
	tests := []struct {
		name    string
		inbound int
		sent    int
	}{
		{"one over", 4, 5},
		{"many over", 8, 200},
		{"none over", 16, 16},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := int32(60 + i)
			ran := make(chan int64, tt.sent)
			r := route.NewRouter()
			for sub := range int32(2) { // two routes, one user: order across routes
				route.Handle(r.Group(cmd), sub, func(_ *logic.Ctx, n int64) (int64, error) {
					ran <- n
					return n, nil
				})
			}
			var logs syncBuffer
			srv := startLogic(t, ns, r, func(c *logic.Config) {
				c.Service, c.Inbound = "inbound"+tt.name[:3], tt.inbound
				c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			})
			gw := newGate(t, ns)
			release := logic.BlockDispatch(srv)
			released := false
			defer func() {
				if !released {
					release()
				}
			}()
			for n := range tt.sent {
				gw.send(uint64(n+1), fabric.Meta{Cmd: cmd, Sub: int32(n % 2), UserID: 1}, int64Payload(t, int64(n+1)))
			}
			deadline := time.Now().Add(10 * time.Second)
			for logic.InboundWaiting(srv) < int64(tt.sent) {
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d requests received", logic.InboundWaiting(srv), tt.sent)
				}
				time.Sleep(time.Millisecond)
			}
			release()
			released = true

			busy := 0
			for range tt.sent {
				tok, rep, _ := gw.next()
				switch {
				case rep.Status == 0 && tok <= uint64(tt.inbound):
				case rep.Status == errs.CodeSystem && rep.Error == logic.ErrBusy.Msg && tok > uint64(tt.inbound):
					busy++
				default:
					t.Fatalf("request %d: %+v", tok, rep)
				}
			}
			want := max(tt.sent-tt.inbound, 0)
			if busy != want {
				t.Fatalf("%d answered busy, want %d", busy, want)
			}
			for n := range int64(min(tt.sent, tt.inbound)) {
				if got := <-ran; got != n+1 {
					t.Fatalf("ran %d, want %d: out of order", got, n+1)
				}
			}
			var shed uint64
			for _, rs := range srv.Stats().Routes {
				shed += rs.Shed["inbound"]
			}
			if shed != uint64(want) {
				t.Fatalf("counted %d shed for inbound, want %d", shed, want)
			}
			if got := strings.Contains(logs.String(), "requests shed under load"); got != (want > 0) {
				t.Fatalf("shed logged %v, want %v: %s", got, want > 0, logs.String())
			}
		})
	}
}

// TestCtxDeadline: a handler sees when its caller stops waiting, and that
// there is no such time when the caller set no timeout.
func TestCtxDeadline(t *testing.T) {
	ns := startNATS(t)
	r := route.NewRouter()
	route.Handle(r.Group(70), 0, func(c *logic.Ctx, _ int64) (int64, error) {
		d, ok := c.Deadline()
		if !ok {
			return -1, nil
		}
		return int64(time.Until(d) / time.Millisecond), nil
	})
	startLogic(t, ns, r, func(c *logic.Config) { c.Service = "deadline" })
	gw := newGate(t, ns)
	tests := []struct {
		name     string
		timeout  time.Duration
		min, max int64 // ms left, as the handler saw it
	}{
		{"no timeout", 0, -1, -1},
		{"a minute", time.Minute, 50_000, 60_000},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw.send(uint64(i+1), fabric.Meta{Cmd: 70, UserID: 1, Timeout: tt.timeout}, int64Payload(t, 0))
			_, rep, data := gw.next()
			if rep.Status != 0 {
				t.Fatalf("reply %+v", rep)
			}
			v, _ := wire.ValueOf[int64]()
			left, err := v.Unmarshal(data, wire.Protobuf{})
			if err != nil || left < tt.min || left > tt.max {
				t.Fatalf("handler saw %d ms left (%v), want %d..%d", left, err, tt.min, tt.max)
			}
		})
	}
	t.Run("NewCtx", func(t *testing.T) {
		if _, ok := logic.NewCtx(context.Background(), fabric.Meta{Timeout: time.Second}, nil).Deadline(); !ok {
			t.Fatal("no deadline from Meta.Timeout")
		}
	})
}

// TestUnrouted: a request whose metadata is bad, or names a route the
// server does not serve, is answered, counted, and logged once per
// interval however many come.
func TestUnrouted(t *testing.T) {
	ns := startNATS(t)
	r := route.NewRouter()
	route.Handle(r.Group(71), 0, func(_ *logic.Ctx, n int64) (int64, error) { return n, nil })
	var logs syncBuffer
	srv := startLogic(t, ns, r, func(c *logic.Config) {
		c.Service = "unrouted"
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	gw := newGate(t, ns)
	tests := []struct {
		name   string
		header nats.Header
		status int32
	}{
		{"no route header", nats.Header{fabric.HeaderUser: {"1"}}, errs.CodeSystem},
		{"bad user header", nats.Header{fabric.HeaderRoute: {"4653056"}, fabric.HeaderUser: {"x"}}, errs.CodeSystem},
		{"route not served here", (&fabric.Meta{Cmd: 71, Sub: 5, UserID: 1}).Header(), errs.CodeRouteNotFound},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := gw.nc.PublishMsg(&nats.Msg{Subject: fabric.Request(71, 0), Reply: fabric.GateReply("g1", uint64(i+1)),
				Header: tt.header})
			if err != nil {
				t.Fatal(err)
			}
			if _, rep, _ := gw.next(); rep.Status != tt.status {
				t.Fatalf("reply %+v, want status %d", rep, tt.status)
			}
			if n := srv.Stats().Unrouted; n != uint64(i+1) {
				t.Fatalf("unrouted %d, want %d", n, i+1)
			}
		})
	}
	if n := strings.Count(logs.String(), "requests refused before any route"); n != 1 {
		t.Fatalf("%d log lines, want 1 (rate-limited):\n%s", n, logs.String())
	}
}
