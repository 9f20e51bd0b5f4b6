package svcmain

import (
	"bytes"
	"context"
	"testing"

	"github.com/iogo-dev/iogo/pkg/gen"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
)

// TestDumpRoutes checks that -dump-routes prints the route table and exits
// without a broker (the broker URL points nowhere).
func TestDumpRoutes(t *testing.T) {
	spec := Logic{Service: "dumped", EnvPrefix: "IOGO_DUMPED_", Routes: func() logic.RouteSource {
		r := route.NewRouter()
		route.Handle(r.Group(4), 2, func(_ *logic.Ctx, s string) (string, error) { return s, nil }, route.Public())
		return r
	}}
	var stdout, stderr bytes.Buffer
	code := RunLogic(context.Background(), spec, []string{"-dump-routes", "-brokers", "nats://127.0.0.1:1"},
		func(string) (string, bool) { return "", false }, &stdout, &stderr)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	s, err := gen.ParseDump(stdout.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "dumped" || len(s.Routes) != 1 || s.Routes[0].Cmd != 4 || s.Routes[0].Req != "iohao.StringValue" || len(s.Descriptors) == 0 {
		t.Fatalf("dump %+v", s)
	}
}
