package tests

import (
	"testing"

	demo "github.com/iogo-dev/iogo/proto/demo"
	"github.com/iogo-dev/iogo/proto/iohao"
	loginpb "github.com/iogo-dev/iogo/proto/login"
	"google.golang.org/protobuf/proto"
)

// Framework codes, written out here rather than imported: the test checks
// the numbers on the wire.
const (
	codeRouteNotFound = -1002
	codeLoginRequired = -1004
)

// TestEndToEnd drives a split deployment (broker, external and logic
// services as separate processes) and `iogo dev` with spec-level clients
// over TCP and WebSocket.
func TestEndToEnd(t *testing.T) {
	deployments := []struct {
		name  string
		start func(*testing.T) cluster
	}{
		{"split", startSplit},
		{"dev", startDev},
	}
	for _, d := range deployments {
		t.Run(d.name, func(t *testing.T) {
			cl := d.start(t)
			for _, url := range []string{cl.tcp, cl.ws} {
				if url == "" {
					t.Fatalf("missing transport address: %+v", cl)
				}
				t.Run(url[:3], func(t *testing.T) { exercise(t, url) })
			}
		})
	}
}

func exercise(t *testing.T, url string) {
	c := dialSpec(t, url)
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"heartbeat", func(t *testing.T) {
			send(t, c, &iohao.ExternalMessage{CmdCode: 0, MsgId: 11})
			if got := recv(t, c); got.CmdCode != 0 || got.ResponseStatus != 0 {
				t.Fatalf("heartbeat answered with %v", got)
			}
		}},
		{"request response", func(t *testing.T) {
			resp := request(t, c, 2, 0, 7, &demo.HelloReq{Name: "e2e"})
			if got := decode(t, resp, &demo.HelloResp{}); got.Text != "hello, e2e" {
				t.Fatalf("got %q", got.Text)
			}
		}},
		{"bare values", func(t *testing.T) {
			resp := request(t, c, 2, 2, 8, &iohao.LongValueList{Values: []int64{40, 2}})
			if got := decode(t, resp, &iohao.LongValue{}); got.Value != 42 {
				t.Fatalf("sum = %d", got.Value)
			}
		}},
		{"application error code", func(t *testing.T) {
			resp := request(t, c, 2, 3, 9, &iohao.IntValue{Value: 4242})
			if resp.ResponseStatus != 4242 || resp.GetValidMsg() == "" {
				t.Fatalf("got status %d %q", resp.ResponseStatus, resp.GetValidMsg())
			}
		}},
		{"login required", func(t *testing.T) {
			if resp := request(t, c, 1, 1, 10, nil); resp.ResponseStatus != codeLoginRequired {
				t.Fatalf("whoami before login: status %d", resp.ResponseStatus)
			}
		}},
		{"unknown route", func(t *testing.T) {
			resp := request(t, c, 99, 9, 12, nil)
			if resp.ResponseStatus != codeRouteNotFound {
				t.Fatalf("status %d, want %d", resp.ResponseStatus, codeRouteNotFound)
			}
			// The connection survives and keeps working.
			if resp := request(t, c, 2, 1, 13, &demo.EchoMsg{Text: "still here"}); resp.ResponseStatus != 0 {
				t.Fatalf("after unknown route: %d", resp.ResponseStatus)
			}
		}},
		{"login binds the session", func(t *testing.T) {
			user := decode(t, request(t, c, 1, 0, 14, &loginpb.GuestLogin{DeviceId: "device-" + url}), &loginpb.User{})
			if user.Id == 0 {
				t.Fatal("no user id")
			}
			me := decode(t, request(t, c, 1, 1, 15, nil), &loginpb.User{})
			if me.Id != user.Id {
				t.Fatalf("whoami = %d, want %d", me.Id, user.Id)
			}
		}},
		{"pipelined requests", func(t *testing.T) {
			const n = 100
			for i := range n {
				data, _ := proto.Marshal(&demo.EchoMsg{Seq: int64(i)})
				send(t, c, &iohao.ExternalMessage{CmdCode: 1, CmdMerge: 2<<16 | 1, MsgId: int32(1000 + i), Data: data})
			}
			for i := range n {
				resp := recv(t, c)
				got := decode(t, resp, &demo.EchoMsg{})
				// One user's requests run in order, so responses come back in order.
				if resp.MsgId != int32(1000+i) || got.Seq != int64(i) {
					t.Fatalf("response %d: msgId %d seq %d", i, resp.MsgId, got.Seq)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}

	// A malformed frame closes only its own connection.
	bad := dialSpec(t, url)
	if err := bad.sendRaw([]byte{0xff, 0xff, 0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	if _, err := bad.recvRaw(); err == nil {
		t.Fatal("a malformed frame must close the connection")
	}
	if resp := request(t, c, 2, 0, 99, &demo.HelloReq{}); resp.ResponseStatus != 0 {
		t.Fatalf("other connection broken after a malformed frame: %d", resp.ResponseStatus)
	}
}
