package external

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/stats"
	"github.com/nats-io/nats.go"
)

// TestGateStats drives a gate through connections, a login, successful
// and failed requests, and reads its figures from Stats and, as the
// broker's dashboard does, over NATS from its micro service.
func TestGateStats(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	respond(t, logic, 1, 0, func(m *nats.Msg) (fabric.Reply, []byte, bool) { // login
		id, _ := strconv.ParseInt(string(m.Data), 10, 64)
		if err := bindSession(logic, m, id); err != nil {
			t.Error(err)
		}
		return fabric.Reply{}, []byte("welcome"), true
	})
	respond(t, logic, 2, 1, func(*nats.Msg) (fabric.Reply, []byte, bool) {
		return fabric.Reply{Status: 4201, Error: "not enough gold"}, nil, true
	})
	respond(t, logic, 2, 3, echo)
	g := startGate(t, ns, func(c *Config) { c.ID = "gs" })

	var ws, tcp *client.Client // dialed with the outer t: they outlive their step
	request := func(t *testing.T, c *client.Client, cmd, sub int32, body string, code int32) {
		t.Helper()
		resp, err := c.Request(ctxT(t), cmd, sub, []byte(body))
		if err != nil || resp.Status != code {
			t.Fatalf("request %d-%d: %+v, %v; want status %d", cmd, sub, resp, err, code)
		}
	}
	for _, tt := range []struct {
		name string
		step func(t *testing.T)
		want func(s stats.GateSnapshot) error
	}{
		{"idle", func(*testing.T) {}, func(s stats.GateSnapshot) error {
			if s.Connections() != 0 || s.Users != 0 || s.Requests != 0 || s.Addrs["ws"] == "" || s.Addrs["tcp"] == "" {
				return fmt.Errorf("%+v", s)
			}
			return nil
		}},
		{"connected", func(*testing.T) { ws, tcp = dialT(t, wsURL(g)), dialT(t, tcpURL(g)) }, func(s stats.GateSnapshot) error {
			if s.Sessions["ws"] != 1 || s.Sessions["tcp"] != 1 || s.Sessions["kcp"] != 0 || s.Connections() != 2 {
				return fmt.Errorf("sessions %v", s.Sessions)
			}
			return nil
		}},
		{"logged in and served", func(t *testing.T) {
			request(t, ws, 1, 0, "42", 0)
			request(t, tcp, 2, 3, "hello", 0)
			request(t, tcp, 2, 1, "", 4201)
			request(t, ws, 9, 9, "", -1002) // refused by the gate itself
		}, func(s stats.GateSnapshot) error {
			last := len(s.RequestsPerMinute) - 1
			if s.Users != 1 || s.Requests != 4 || s.RequestsPerMinute[last]+s.RequestsPerMinute[last-1] != 4 ||
				s.Errors["4201"] != 1 || s.Errors["-1002"] != 1 || s.ErrorsPerMinute[last]+s.ErrorsPerMinute[last-1] != 2 {
				return fmt.Errorf("%+v", s)
			}
			if s.BytesIn == 0 || s.BytesOut == 0 || s.Pending != 0 {
				return fmt.Errorf("bytes %d/%d, pending %d", s.BytesIn, s.BytesOut, s.Pending)
			}
			return nil
		}},
		{"one left", func(t *testing.T) { _ = ws.Close() }, func(s stats.GateSnapshot) error {
			if s.Sessions["ws"] != 0 || s.Sessions["tcp"] != 1 || s.Users != 0 {
				return fmt.Errorf("sessions %v, users %d", s.Sessions, s.Users)
			}
			return nil
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.step(t)
			waitFor(t, 5*time.Second, func() error {
				if err := tt.want(g.Stats()); err != nil {
					return fmt.Errorf("Stats: %w", err)
				}
				all, err := stats.GatherAll(ctxT(t), logic)
				if err != nil {
					return err
				}
				if len(all.Gates) != 1 || all.Gates[0].Gate != "gs" || len(all.Logic) != 0 {
					return fmt.Errorf("gathered %+v", all)
				}
				if err := tt.want(all.Gates[0]); err != nil {
					return fmt.Errorf("over NATS: %w", err)
				}
				return nil
			})
		})
	}
}
