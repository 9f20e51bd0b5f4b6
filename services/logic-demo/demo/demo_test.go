package demo

import (
	"errors"
	"testing"

	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/logic"

	"github.com/iogo-dev/iogo/pkg/errs"
	demopb "github.com/iogo-dev/iogo/proto/demo"
)

func TestHandlers(t *testing.T) {
	if r, _ := hello(nil, &demopb.HelloReq{}); r.Text != "hello, world" {
		t.Fatal(r.Text)
	}
	if r, _ := hello(nil, &demopb.HelloReq{Name: "ann"}); r.Text != "hello, ann" {
		t.Fatal(r.Text)
	}
	if s, _ := sum(nil, []int64{1, 2, -4}); s != -1 {
		t.Fatal(s)
	}
	tests := []struct {
		name string
		code int32
		want int32
	}{
		{"app code", 7, 7},
		{"zero", 0, errs.CodeValidation},
		{"negative", -1000, errs.CodeValidation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := fail(nil, tt.code); errs.Code(err) != tt.want {
				t.Fatalf("code %d, want %d", errs.Code(err), tt.want)
			}
		})
	}
	if _, err := Router().Routes(); err != nil {
		t.Fatal(err)
	}
}

func TestChat(t *testing.T) {
	c := logic.NewCtx(nil, fabric.Meta{}, nil)
	if err := chat(c, &demopb.EchoMsg{}); errs.Code(err) != errs.CodeValidation {
		t.Fatalf("empty line: %v", err)
	}
	// Outside a server there is nobody to push to.
	if err := chat(c, &demopb.EchoMsg{Text: "hi"}); !errors.Is(err, logic.ErrNoServer) {
		t.Fatalf("chat outside a server: %v", err)
	}
	if p := Router().Pushes(); len(p) != 1 || p[0].Cmd != Cmd || p[0].Sub != SubChatPush || p[0].Type != "iogo.demo.EchoMsg" {
		t.Fatalf("pushes %+v", p)
	}
}
