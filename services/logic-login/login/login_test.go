package login

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/logic"
	loginpb "github.com/iogo-dev/iogo/proto/login"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

func TestGuestLogin(t *testing.T) {
	tests := []struct {
		name    string
		req     *loginpb.GuestLogin
		wantErr error
		nick    string
	}{
		{"named", &loginpb.GuestLogin{DeviceId: "dev-1", Nickname: " ann "}, nil, "ann"},
		{"default nickname", &loginpb.GuestLogin{DeviceId: "dev-2"}, nil, "guest"},
		{"no device", &loginpb.GuestLogin{}, errs.ErrValidation, ""},
		{"long device", &loginpb.GuestLogin{DeviceId: strings.Repeat("x", 129)}, errs.ErrValidation, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := logic.NewCtx(context.Background(), fabric.Meta{}, nil)
			m := New(Config{})
			// Through the route: the device_id rule (login.proto) is
			// checked before the handler.
			routes, err := m.Router().Routes()
			if err != nil {
				t.Fatal(err)
			}
			tbl, err := logic.NewTable(routes)
			if err != nil {
				t.Fatal(err)
			}
			in, err := proto.Marshal(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			out, e := tbl.Lookup(Cmd, SubGuest).Serve(c, in)
			if e != nil {
				err = e
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if !strings.Contains(e.Msg, "device_id: ") {
					t.Fatalf("message %q does not name the field", e.Msg)
				}
				return
			}
			u := &loginpb.User{}
			if err := proto.Unmarshal(out, u); err != nil {
				t.Fatal(err)
			}
			if u.Id != GuestID(tt.req.DeviceId) || u.Id <= 0 || u.Nickname != tt.nick {
				t.Fatalf("user %v", u)
			}
			if c.UserID() != u.Id {
				t.Fatalf("session not bound: %d", c.UserID())
			}
		})
	}
}

func TestGuestIDStable(t *testing.T) {
	if GuestID("a") != GuestID("a") || GuestID("a") == GuestID("b") {
		t.Fatal("GuestID must be a stable function of the device ID")
	}
}

func TestWhoAmI(t *testing.T) {
	if _, err := New(Config{}).whoAmI(logic.NewCtx(nil, fabric.Meta{}, nil), &emptypb.Empty{}); !errors.Is(err, errs.ErrLoginRequired) {
		t.Fatalf("anonymous: %v", err)
	}
	u, err := New(Config{}).whoAmI(logic.NewCtx(nil, fabric.Meta{UserID: 9}, nil), &emptypb.Empty{})
	if err != nil || u.Id != 9 {
		t.Fatalf("got %v %v", u, err)
	}
}

func TestRouterValid(t *testing.T) {
	if _, err := Router().Routes(); err != nil {
		t.Fatal(err)
	}
}
