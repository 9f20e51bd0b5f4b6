package route_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/registry"
	"github.com/iogo-dev/iogo/pkg/route"
	"github.com/iogo-dev/iogo/pkg/wire"
	demopb "github.com/iogo-dev/iogo/proto/demo"
	"google.golang.org/protobuf/proto"
)

var errNoGold = errs.New(1001, "not enough gold")

func newRouter() *route.Router {
	r := route.NewRouter()
	g := r.Group(1)
	route.Handle(g, 0, func(c *logic.Ctx, req *demopb.EchoMsg) (*demopb.EchoMsg, error) {
		return &demopb.EchoMsg{Text: req.Text + "!", Seq: req.Seq + c.UserID()}, nil
	}, route.Doc("echo with a bang"))
	route.Handle(g, 1, func(c *logic.Ctx, n int64) (string, error) {
		if n < 0 {
			return "", errNoGold
		}
		return strings.Repeat("x", int(n)), nil
	})
	route.Handle(g, 2, func(c *logic.Ctx, v []int32) ([]*demopb.EchoMsg, error) {
		out := make([]*demopb.EchoMsg, len(v))
		for i, x := range v {
			out[i] = &demopb.EchoMsg{Seq: int64(x)}
		}
		return out, nil
	})
	route.Handle(g, 3, func(c *logic.Ctx, _ bool) (bool, error) { panic("boom") })
	route.Handle(g, 4, func(c *logic.Ctx, _ string) (string, error) { return "", errors.New("db down: secret detail") })
	route.HandleVoid(g, 5, func(c *logic.Ctx, s string) error {
		if s == "" {
			return errs.ErrValidation
		}
		return nil
	})
	return r
}

func table(t testing.TB, r *route.Router) *logic.Table {
	t.Helper()
	routes, err := r.Routes()
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := logic.NewTable(routes)
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

func encode[T any](t *testing.T, c wire.Codec, v T) []byte {
	t.Helper()
	val, err := wire.ValueOf[T]()
	if err != nil {
		t.Fatal(err)
	}
	b, err := val.Append(nil, c, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decode[T any](t *testing.T, c wire.Codec, b []byte) T {
	t.Helper()
	val, _ := wire.ValueOf[T]()
	v, err := val.Unmarshal(b, c)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestServe(t *testing.T) {
	tbl := table(t, newRouter())
	for _, codec := range []wire.Codec{wire.Protobuf{}, wire.JSON{}} {
		tests := []struct {
			name     string
			sub      int32
			in       []byte
			wantCode int32
			check    func(t *testing.T, out []byte)
		}{
			{"message", 0, encode(t, codec, &demopb.EchoMsg{Text: "hi", Seq: 1}), 0, func(t *testing.T, out []byte) {
				got := decode[*demopb.EchoMsg](t, codec, out)
				if !proto.Equal(got, &demopb.EchoMsg{Text: "hi!", Seq: 43}) {
					t.Fatalf("got %v", got)
				}
			}},
			{"empty data is the zero value", 0, nil, 0, func(t *testing.T, out []byte) {
				if got := decode[*demopb.EchoMsg](t, codec, out); got.Text != "!" {
					t.Fatalf("got %v", got)
				}
			}},
			{"bare values", 1, encode(t, codec, int64(3)), 0, func(t *testing.T, out []byte) {
				if got := decode[string](t, codec, out); got != "xxx" {
					t.Fatalf("got %q", got)
				}
			}},
			{"slice of messages", 2, encode(t, codec, []int32{4, 5}), 0, func(t *testing.T, out []byte) {
				got := decode[[]*demopb.EchoMsg](t, codec, out)
				if len(got) != 2 || got[0].Seq != 4 || got[1].Seq != 5 {
					t.Fatalf("got %v", got)
				}
			}},
			{"application error", 1, encode(t, codec, int64(-1)), 1001, nil},
			{"panic is a system error", 3, nil, errs.CodeSystem, nil},
			{"plain error is a system error", 4, nil, errs.CodeSystem, nil},
			{"malformed data", 0, []byte("\xff\xff\xff"), errs.CodeValidation, nil},
			{"void ok", 5, encode(t, codec, "x"), 0, func(t *testing.T, out []byte) {
				if len(out) != 0 {
					t.Fatalf("void returned %x", out)
				}
			}},
			{"void error", 5, nil, errs.CodeValidation, nil},
		}
		for _, tt := range tests {
			t.Run(codec.Name()+"/"+tt.name, func(t *testing.T) {
				r := tbl.Lookup(1, tt.sub)
				if r == nil {
					t.Fatal("route missing")
				}
				c := logic.NewCtx(context.Background(), fabric.Meta{Cmd: 1, Sub: tt.sub, UserID: 42}, codec)
				out, err := r.Serve(c, tt.in)
				if got := errs.Code(errOrNil(err)); got != tt.wantCode {
					t.Fatalf("code = %d (%v), want %d", got, err, tt.wantCode)
				}
				if err != nil && strings.Contains(err.Msg, "secret") {
					t.Fatalf("internal error text leaked: %q", err.Msg)
				}
				if tt.check != nil {
					tt.check(t, out)
				}
			})
		}
	}
}

// errOrNil keeps a nil *errs.Error from becoming a non-nil error.
func errOrNil(e *errs.Error) error {
	if e == nil {
		return nil
	}
	return e
}

func TestRouteMetadata(t *testing.T) {
	tbl := table(t, newRouter())
	tests := []struct {
		name      string
		sub       int32
		req, resp string
		void      bool
	}{
		{"message", 0, "iogo.demo.EchoMsg", "iogo.demo.EchoMsg", false},
		{"bare", 1, "iohao.LongValue", "iohao.StringValue", false},
		{"list", 2, "iohao.IntValueList", "iohao.ByteValueList<iogo.demo.EchoMsg>", false},
		{"void", 5, "iohao.StringValue", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tbl.Lookup(1, tt.sub)
			if r.Req != tt.req || r.Resp != tt.resp || r.Void != tt.void {
				t.Fatalf("got %q %q %v", r.Req, r.Resp, r.Void)
			}
			if !strings.HasSuffix(r.File, "route_test.go") || r.Line == 0 || !strings.Contains(r.Func, "newRouter") {
				t.Fatalf("source %s:%d %s", r.File, r.Line, r.Func)
			}
		})
	}
	if tbl.Lookup(1, 0).Doc != "echo with a bang" {
		t.Fatal("doc lost")
	}
	for _, miss := range [][2]int32{{1, 6}, {2, 0}, {-1, 0}, {1, -1}, {1 << 15, 0}} {
		if tbl.Lookup(miss[0], miss[1]) != nil {
			t.Fatalf("Lookup(%v) found a route", miss)
		}
	}
}

func TestRegistrationErrors(t *testing.T) {
	tests := []struct {
		name  string
		build func(r *route.Router)
		want  string
	}{
		{"duplicate", func(r *route.Router) {
			route.Handle(r.Group(2), 1, func(*logic.Ctx, string) (string, error) { return "", nil })
			route.Handle(r.Group(2), 1, func(*logic.Ctx, int32) (int32, error) { return 0, nil })
		}, "duplicate route 2-1"},
		{"unsupported type", func(r *route.Router) {
			route.Handle(r.Group(2), 1, func(*logic.Ctx, float64) (string, error) { return "", nil })
		}, "unsupported payload type float64"},
		{"cmd out of range", func(r *route.Router) {
			route.Handle(r.Group(40000), 1, func(*logic.Ctx, string) (string, error) { return "", nil })
		}, "cmd 40000 out of range"},
		{"sub out of range", func(r *route.Router) {
			route.Handle(r.Group(1), 70000, func(*logic.Ctx, string) (string, error) { return "", nil })
		}, "subCmd 70000"},
		{"duplicate push", func(r *route.Router) {
			route.Handle(r.Group(2), 1, func(*logic.Ctx, string) (string, error) { return "", nil })
			route.DeclarePush[string](r.Group(2), 9)
			route.DeclarePush[int32](r.Group(2), 9)
		}, "duplicate push 2-9"},
		{"unsupported push type", func(r *route.Router) {
			route.Handle(r.Group(2), 1, func(*logic.Ctx, string) (string, error) { return "", nil })
			route.DeclarePush[float32](r.Group(2), 9)
		}, "push 2-9: wire: unsupported payload type float32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := route.NewRouter()
			tt.build(r)
			_, err := r.Routes()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
			if _, err := logic.New(logic.Config{Service: "s", Router: r}); err == nil {
				t.Fatal("logic.New must refuse a router with registration errors")
			}
		})
	}
}

func TestAccess(t *testing.T) {
	r := route.NewRouter()
	g := r.Group(3)
	h := func(*logic.Ctx, string) (string, error) { return "", nil }
	route.Handle(g, 0, h)
	route.Handle(g, 1, h, route.Public())
	route.Handle(g, 2, h, route.Internal(), route.Doc("x"))
	route.HandleVoid(g, 3, func(*logic.Ctx, string) error { return nil }, route.Public())
	tbl := table(t, r)
	for sub, want := range []registry.Access{registry.AccessLogin, registry.AccessPublic, registry.AccessInternal, registry.AccessPublic} {
		if got := tbl.Lookup(3, int32(sub)).Access; got != want {
			t.Errorf("3-%d access %v, want %v", sub, got, want)
		}
	}
}

func TestDeclarePush(t *testing.T) {
	r := route.NewRouter()
	g := r.Group(4)
	route.Handle(g, 0, func(*logic.Ctx, string) (string, error) { return "", nil })
	p := route.DeclarePush[*demopb.EchoMsg](g, 0, route.Doc("same route as the request"))
	route.DeclarePush[[]int64](g, 1)
	route.DeclarePush[[]*demopb.EchoMsg](g, 2)
	if _, err := r.Routes(); err != nil {
		t.Fatal(err)
	}
	want := []logic.PushRoute{
		{Cmd: 4, Sub: 0, Type: "iogo.demo.EchoMsg", Doc: "same route as the request"},
		{Cmd: 4, Sub: 1, Type: "iohao.LongValueList"},
		{Cmd: 4, Sub: 2, Type: "iohao.ByteValueList<iogo.demo.EchoMsg>"},
	}
	if got := r.Pushes(); !reflect.DeepEqual(got, want) {
		t.Fatalf("pushes %+v, want %+v", got, want)
	}
	if p != want[0] {
		t.Fatalf("DeclarePush returned %+v", p)
	}
	var _ logic.PushSource = r
}

func TestMiddlewareOrder(t *testing.T) {
	var trace []string
	mw := func(name string) logic.Middleware {
		return func(next logic.Handler) logic.Handler {
			return func(c *logic.Ctx, in []byte) ([]byte, error) {
				trace = append(trace, name)
				return next(c, in)
			}
		}
	}
	r := route.NewRouter()
	r.Use(mw("router1"), mw("router2"))
	g := r.Group(1, mw("group1"))
	g.Use(mw("group2"))
	route.Handle(g, 0, func(*logic.Ctx, string) (string, error) {
		trace = append(trace, "handler")
		return "", nil
	})
	r.Use(mw("router3")) // added after Handle: still applies
	if _, err := table(t, r).Lookup(1, 0).Serve(logic.NewCtx(nil, fabric.Meta{}, nil), nil); err != nil {
		t.Fatal(err)
	}
	want := "router1 router2 router3 group1 group2 handler"
	if got := strings.Join(trace, " "); got != want {
		t.Fatalf("order %q, want %q", got, want)
	}
}

// BenchmarkDispatch measures one request through the logic server's hot
// path on one goroutine: route lookup, decoding a small message, the typed
// call and encoding the response.
func BenchmarkDispatch(b *testing.B) {
	r := route.NewRouter()
	route.Handle(r.Group(1), 0, func(c *logic.Ctx, req *demopb.EchoMsg) (*demopb.EchoMsg, error) {
		return req, nil
	})
	tbl := table(b, r)
	in, _ := proto.Marshal(&demopb.EchoMsg{Text: "hello", Seq: 7})
	c := logic.NewCtx(context.Background(), fabric.Meta{Cmd: 1, UserID: 1}, wire.Protobuf{})
	b.ReportAllocs()
	for b.Loop() {
		rt := tbl.Lookup(1, 0)
		if _, err := rt.Serve(c, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDispatchBare is BenchmarkDispatch with bare int64 values, which
// take the allocation-free wrapper path.
func BenchmarkDispatchBare(b *testing.B) {
	r := route.NewRouter()
	route.Handle(r.Group(1), 0, func(c *logic.Ctx, n int64) (int64, error) { return n + 1, nil })
	tbl := table(b, r)
	in := []byte{0x08, 0x0e} // LongValue{value: 7}
	c := logic.NewCtx(context.Background(), fabric.Meta{Cmd: 1, UserID: 1}, wire.Protobuf{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tbl.Lookup(1, 0).Serve(c, in); err != nil {
			b.Fatal(err)
		}
	}
}

type sourceSvc struct{}

func (sourceSvc) hello(_ *logic.Ctx, s string) (string, error) { return s, nil }

func TestFuncSourceMethodValue(t *testing.T) {
	r := route.NewRouter()
	route.Handle(r.Group(1), 0, sourceSvc{}.hello)
	routes, err := r.Routes()
	if err != nil {
		t.Fatal(err)
	}
	got := routes[0]
	if !strings.HasSuffix(got.Func, ".sourceSvc.hello") || got.File != "" || got.Source() != "?" {
		t.Fatalf("method value handler: func %q file %q source %q", got.Func, got.File, got.Source())
	}
}
