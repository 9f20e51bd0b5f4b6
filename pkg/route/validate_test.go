package route_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
	"github.com/iogo-dev/iogo/pkg/wire"
	loginpb "github.com/iogo-dev/iogo/proto/login"
	"google.golang.org/protobuf/proto"
)

// TestValidation: a request breaking a buf.validate rule of its .proto is
// answered -1001 naming the field and the rule, and the handler does not
// run; a valid one reaches the handler. Clients (JSON or protobuf) and
// server-to-server calls (protobuf) take the same path.
func TestValidation(t *testing.T) {
	var runs atomic.Int32
	r := route.NewRouter()
	g := r.Group(1)
	route.Handle(g, 0, func(c *logic.Ctx, req *loginpb.Register) (*loginpb.User, error) {
		runs.Add(1)
		return &loginpb.User{Username: req.Username}, nil
	})
	route.HandleVoid(g, 1, func(c *logic.Ctx, req *loginpb.Ban) error {
		runs.Add(1)
		return nil
	})
	tbl := table(t, r)
	good := &loginpb.Register{Username: "alice", Password: "long enough"}
	tests := []struct {
		name     string
		sub      int32
		req      proto.Message
		wantMsgs []string // in the -1001's message; none: the handler runs
	}{
		{"valid", 0, good, nil},
		{"short username", 0, &loginpb.Register{Username: "al", Password: "long enough"},
			[]string{"username: must be at least 3 characters [string.min_len]"}},
		{"username pattern", 0, &loginpb.Register{Username: "a b c", Password: "long enough"},
			[]string{"username: ", "[string.pattern]"}},
		{"two fields", 0, &loginpb.Register{Username: "al", Password: "short"},
			[]string{"username: ", "[string.min_len]", "; password: ", "[string.min_bytes]"}},
		{"empty request", 0, &loginpb.Register{}, []string{"username: ", "password: "}},
		{"void valid", 1, &loginpb.Ban{UserId: 7}, nil},
		{"void rule", 1, &loginpb.Ban{UserId: 0}, []string{"user_id: must be greater than 0 [int64.gt]"}},
	}
	for _, codec := range []wire.Codec{wire.Protobuf{}, wire.JSON{}} {
		for _, tt := range tests {
			t.Run(codec.Name()+"/"+tt.name, func(t *testing.T) {
				in, err := codec.AppendPayload(nil, tt.req)
				if err != nil {
					t.Fatal(err)
				}
				before := runs.Load()
				c := logic.NewCtx(context.Background(), fabric.Meta{Cmd: 1, Sub: tt.sub, UserID: 1}, codec)
				_, e := tbl.Lookup(1, tt.sub).Serve(c, in)
				ran := runs.Load() != before
				if tt.wantMsgs == nil {
					if e != nil || !ran {
						t.Fatalf("valid request: err %v, handler ran %v", e, ran)
					}
					return
				}
				if e == nil || e.Code != errs.CodeValidation {
					t.Fatalf("err = %v, want code %d", e, errs.CodeValidation)
				}
				if ran {
					t.Fatal("the handler ran on an invalid request")
				}
				for _, m := range tt.wantMsgs {
					if !strings.Contains(e.Msg, m) {
						t.Errorf("message %q lacks %q", e.Msg, m)
					}
				}
			})
		}
	}
}

// BenchmarkValidate is BenchmarkDispatch on a message with rules
// (loginpb.Register: lengths and a pattern), validated and not: the
// difference is the cost of the check. See docs/BENCHMARKS.md.
func BenchmarkValidate(b *testing.B) {
	req, _ := proto.Marshal(&loginpb.Register{Username: "alice_01", Password: "a password", Nickname: "Alice"})
	for _, bc := range []struct {
		name string
		add  func(*route.Group)
	}{
		{"validated", func(g *route.Group) {
			route.Handle(g, 0, func(c *logic.Ctx, r *loginpb.Register) (*loginpb.Register, error) { return r, nil })
		}},
		// User: a message of similar size without rules.
		{"not-validated", func(g *route.Group) {
			route.Handle(g, 0, func(c *logic.Ctx, r *loginpb.User) (*loginpb.User, error) { return r, nil })
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := route.NewRouter()
			bc.add(r.Group(1))
			tbl := table(b, r)
			in := req
			if bc.name == "not-validated" {
				in, _ = proto.Marshal(&loginpb.User{Username: "alice_01", Nickname: "Alice", Id: 7})
			}
			c := logic.NewCtx(context.Background(), fabric.Meta{Cmd: 1, UserID: 1}, wire.Protobuf{})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tbl.Lookup(1, 0).Serve(c, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
