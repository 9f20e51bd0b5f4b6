package svctest_test

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"go.uber.org/goleak"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/broker/brokertest"
	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
	"github.com/iogo-dev/iogo/pkg/store"
	"github.com/iogo-dev/iogo/pkg/svcmain/svctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, svctest.LeakOptions()...) }

// visits is a module counting each player's visits in its bucket.
type visits struct {
	kv     store.KV
	closed bool
}

func (v *visits) Router() logic.RouteSource {
	r := route.NewRouter()
	route.Handle(r.Group(9), 0, func(c *logic.Ctx, _ string) (int64, error) {
		var n int64
		_, err := store.Update(c.Context(), v.kv, "visits."+strconv.FormatInt(c.UserID(), 10), func(cur []byte, _ bool) ([]byte, error) {
			n, _ = strconv.ParseInt(string(cur), 10, 64)
			n++
			return strconv.AppendInt(nil, n, 10), nil
		})
		return n, err
	})
	return r
}

func (v *visits) Open(ctx context.Context, _ *logic.Server, st store.Opener) (err error) {
	v.kv, err = st.Open(ctx, store.Bucket{Name: "svctest_visits"})
	return err
}

func (v *visits) Close() error { v.closed = true; return nil }

func TestStack(t *testing.T) {
	b := brokertest.Start(t, broker.Config{})
	svctest.Logic(t, b, logic.Config{Service: "login", Router: svctest.LoginRouter()})
	for _, be := range svctest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			m := &visits{}
			t.Cleanup(func() {
				if !m.closed {
					t.Error("module not closed")
				}
			})
			svctest.Module(t, b, logic.Config{Service: "visits-" + be.Name}, m, be.Open(t, b))
			// A gate started after the module sees its routes at once; one
			// started before learns of them only within moments.
			g := svctest.Gate(t, b)
			p := svctest.Player(t, g, 7)
			for want := int64(1); want <= 2; want++ {
				if n, err := client.Call[string, int64](t.Context(), p, 9, 0, ""); err != nil || n != want {
					t.Fatalf("visit %d: %d, %v", want, n, err)
				}
			}
			// The route needs a login: the stand-in login made it work.
			var e *errs.Error
			if _, err := client.Call[string, int64](t.Context(), svctest.Dial(t, g), 9, 0, ""); !errors.As(err, &e) || e.Code != errs.CodeLoginRequired {
				t.Fatalf("anonymous call: %v, want login required", err)
			}
		})
	}
}
