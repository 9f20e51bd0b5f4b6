package gen_test

import (
	"bytes"
	"context"
	"encoding/json"
	"go/parser"
	"go/token"
	"strings"
	"testing"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/gen"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/registry"
	"github.com/iogo-dev/iogo/pkg/route"
	"github.com/iogo-dev/iogo/proto/iohao"
)

var errNoGold = errs.New(1001, "not enough gold")

// ping answers a ping with the same number.
func ping(_ *logic.Ctx, n int32) (int32, error) { return n, nil }

func testRouter() *route.Router {
	r := route.NewRouter()
	r.DeclareError("NoGold", errNoGold)
	g := r.Group(3)
	route.Handle(g, 1, func(_ *logic.Ctx, s string) (string, error) { return s, nil }, route.Doc("Echoes a string."))
	route.Handle(g, 0, ping, route.Public(), route.Doc("registration doc"))
	route.HandleVoid(g, 2, func(_ *logic.Ctx, _ *iohao.LongValue) error { return nil }, route.Internal())
	route.DeclarePush[[]int64](g, 9, route.Doc("Numbers."))
	return r
}

func TestFromRouter(t *testing.T) {
	s, err := gen.FromRouter("test", testRouter())
	if err != nil {
		t.Fatal(err)
	}
	m := gen.NewModel(s)
	gen.ResolveDocs(&m)
	s = m.Services[0]
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"sorted", [3]int32{s.Routes[0].Sub, s.Routes[1].Sub, s.Routes[2].Sub}, [3]int32{0, 1, 2}},
		{"source doc wins", s.Routes[0].Doc, "Answers a ping with the same number."},
		{"closure keeps route.Doc", s.Routes[1].Doc, "Echoes a string."},
		{"access", s.Routes[0].Access, registry.AccessPublic},
		{"internal", s.Routes[2].Access, registry.AccessInternal},
		{"void", s.Routes[2].Void, true},
		{"bare type", s.Routes[1].Req, "iohao.StringValue"},
		{"push", s.Pushes[0].Type, "iohao.LongValueList"},
		{"errors", s.Errors, []errs.Info{{Code: 1001, Name: "NoGold", Msg: "not enough gold"}}},
		{"types", strings.Join(s.TypeNames(), ","), "iohao.IntValue,iohao.LongValue,iohao.LongValueList,iohao.StringValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _ := json.Marshal(tt.got)
			w, _ := json.Marshal(tt.want)
			if !bytes.Equal(g, w) {
				t.Fatalf("got %s, want %s", g, w)
			}
		})
	}
}

func TestDeclareErrorTwice(t *testing.T) {
	r := route.NewRouter()
	r.DeclareError("NoGold", errNoGold)
	r.DeclareError("NoGold", errs.New(1002, "x"))
	if _, err := r.Routes(); err == nil || !strings.Contains(err.Error(), "declared twice") {
		t.Fatalf("err = %v", err)
	}
}

func TestDumpRoundTrip(t *testing.T) {
	s, err := gen.FromRouter("test", testRouter())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	back, err := gen.ParseDump(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(back)
	if !bytes.Equal(b, b2) {
		t.Fatalf("round trip changed the dump:\n%s\n%s", b, b2)
	}
	if _, err := gen.ParseDump([]byte(`{"routes":[]}`)); err == nil {
		t.Fatal("a dump without a service name must fail")
	}
}

func TestFromRegistry(t *testing.T) {
	s, err := gen.FromRouter("test", testRouter())
	if err != nil {
		t.Fatal(err)
	}
	internal := registry.AccessInternal
	svcs := gen.FromRegistry(
		[]registry.Instance{
			{ID: "b-1", Service: "b", Descriptors: s.Descriptors, Pushes: []registry.Push{{Cmd: 3, Sub: 9, Type: "iohao.LongValueList"}}},
			{ID: "b-2", Service: "b", Pushes: []registry.Push{{Cmd: 3, Sub: 9, Type: "iohao.LongValueList"}}},
		},
		[]registry.Route{
			{Cmd: 3, Sub: 1, Service: "b", Req: "iohao.StringValue", Resp: "iohao.StringValue"},
			{Cmd: 3, Sub: 0, Service: "b", Req: "iohao.IntValue", Resp: "iohao.IntValue", Override: &internal},
			{Cmd: 1, Sub: 0, Service: "a"},
		})
	if len(svcs) != 2 || svcs[0].Name != "a" || svcs[1].Name != "b" {
		t.Fatalf("services %+v", svcs)
	}
	b := svcs[1]
	if len(b.Pushes) != 1 || b.Routes[0].Sub != 0 || b.Routes[0].Access != registry.AccessInternal || len(b.Descriptors) == 0 {
		t.Fatalf("service b %+v", b)
	}
}

// TestGenerateDeterministic renders every language twice and checks the
// output is the same, non-empty, and that Go output parses.
func TestGenerateDeterministic(t *testing.T) {
	s, err := gen.FromRouter("test", testRouter())
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range gen.Languages() {
		t.Run(lang, func(t *testing.T) {
			a, err := gen.Generate(context.Background(), lang, gen.NewModel(s), gen.Options{})
			if err != nil {
				t.Fatal(err)
			}
			b, err := gen.Generate(context.Background(), lang, gen.NewModel(s), gen.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(a) == 0 || len(a) != len(b) {
				t.Fatalf("%d and %d files", len(a), len(b))
			}
			for name, content := range a {
				if !bytes.Equal(content, b[name]) {
					t.Fatalf("%s differs between runs", name)
				}
				if strings.HasSuffix(name, ".go") {
					if _, err := parser.ParseFile(token.NewFileSet(), name, content, 0); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
				}
			}
		})
	}
}

func TestGenerateUnknownLanguage(t *testing.T) {
	if _, err := gen.Generate(context.Background(), "cobol", gen.NewModel(), gen.Options{}); err == nil {
		t.Fatal("want an error")
	}
}
