package svcmain_test

import (
	"context"
	"flag"
	"os"
	"strconv"

	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
	"github.com/iogo-dev/iogo/pkg/store"
	"github.com/iogo-dev/iogo/pkg/svcmain"
)

// Visits is a service that keeps data: how often each player came.
type Visits struct {
	step int64    // -step: how much a visit counts
	kv   store.KV // opened by Open, before the first request
}

// Router returns the routes; handlers reach the store through v.
func (v *Visits) Router() logic.RouteSource {
	r := route.NewRouter()
	route.Handle(r.Group(7), 0, func(c *logic.Ctx, _ string) (int64, error) {
		var n int64
		key := "visits." + strconv.FormatInt(c.UserID(), 10)
		_, err := store.Update(c.Context(), v.kv, key, func(cur []byte, _ bool) ([]byte, error) {
			n, _ = strconv.ParseInt(string(cur), 10, 64)
			n += v.step
			return strconv.AppendInt(nil, n, 10), nil
		})
		return n, err
	}, route.Doc("Counts a visit of the caller and returns the total."))
	return r
}

// Open opens the service's bucket: in the brokers' JetStream, or in Redis
// when the service runs with -redis.
func (v *Visits) Open(ctx context.Context, _ *logic.Server, st store.Opener) (err error) {
	v.kv, err = st.Open(ctx, store.Bucket{Name: "visits", Description: "visits per player"})
	return err
}

// Close releases nothing: the store belongs to RunLogic.
func (v *Visits) Close() error { return nil }

// A service that keeps data is a logic.Module: RunLogic adds its flags, opens its
// store before the first request (-redis picks Redis) and closes it at the
// end.
func ExampleRunLogic_module() {
	ctx := context.Background()
	code := svcmain.RunLogic(ctx, svcmain.Logic{
		Service:   "visits",
		EnvPrefix: "IOGO_VISITS_",
		Module: func(fs *flag.FlagSet) logic.Module {
			v := &Visits{}
			fs.Int64Var(&v.step, "step", 1, "how much a visit counts")
			return v
		},
	}, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	os.Exit(code)
}
