package external

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/nats-io/nats.go"
)

func TestAttributes(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	serveLogin(t, logic)
	g := startGate(t, ns, nil)
	c := dialT(t, tcpURL(g))
	sid := whoami(t, c).session
	gate := fabric.GateControl(g.ID())
	const user = 71

	steps := []struct {
		name    string
		subject string
		set     map[string]string
		fails   bool
		want    string // Iogo-Attrs on the next request
	}{
		{"set by the gate", gate, nil, false, "ip=127.0.0.1"},
		{"before login, by session", gate, map[string]string{"room": "7", "team": "red"}, false, "ip=127.0.0.1&room=7&team=red"},
		{"escaped", gate, map[string]string{"nick": "a b&c=d"}, false, "ip=127.0.0.1&nick=a+b%26c%3Dd&room=7&team=red"},
		{"delete", gate, map[string]string{"nick": ""}, false, "ip=127.0.0.1&room=7&team=red"},
		{"after login, by user", fabric.UserControl(user), map[string]string{"team": "", "lang": "fr"}, false, "ip=127.0.0.1&lang=fr&room=7"},
		{"empty key", fabric.UserControl(user), map[string]string{"": "x"}, true, "ip=127.0.0.1&lang=fr&room=7"},
		{"too many keys", gate, manyAttrs(MaxAttrs - 1), true, "ip=127.0.0.1&lang=fr&room=7"},
		{"too large", gate, map[string]string{"big": strings.Repeat("x", MaxAttrsBytes)}, true, "ip=127.0.0.1&lang=fr&room=7"},
		{"at the key limit", gate, manyAttrs(MaxAttrs - 3), false, ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.subject != gate && whoami(t, c).user == 0 {
				login(t, c, user)
			}
			_, err := control(logic, st.subject, fabric.Control{Op: fabric.OpSetAttrs, Session: sid, Attrs: st.set})
			if (err != nil) != st.fails {
				t.Fatalf("set %v: %v, want failure %v", st.set, err, st.fails)
			}
			if st.fails && !strings.Contains(err.Error(), ErrAttrs.Error()) {
				t.Fatalf("error %q", err)
			}
			got := whoami(t, c).attrs
			if st.want != "" && got != st.want {
				t.Fatalf("attrs %q, want %q", got, st.want)
			}
			if st.want == "" && len(got) > MaxAttrsBytes {
				t.Fatalf("attrs of %d bytes", len(got))
			}
		})
	}
	t.Run("get", func(t *testing.T) {
		want := manyAttrs(MaxAttrs - 3)
		want["lang"], want["room"], want[fabric.AttrIP] = "fr", "7", "127.0.0.1"
		for _, subject := range []string{gate, fabric.UserControl(user)} {
			r, err := control(logic, subject, fabric.Control{Op: fabric.OpGetAttrs, Session: sid})
			if err != nil || !maps.Equal(r.Attrs, want) {
				t.Fatalf("%s: %v, %v", subject, r.Attrs, err)
			}
		}
	})
}

// manyAttrs returns n distinct attributes.
func manyAttrs(n int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		m[fmt.Sprintf("k%02d", i)] = "v"
	}
	return m
}

func TestUserControl(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	serveLogin(t, logic)
	g := startGate(t, ns, nil)
	gate := fabric.GateControl(g.ID())
	const user = 81
	c := dialT(t, wsURL(g))
	login(t, c, user)
	sid := whoami(t, c).session

	t.Run("online", func(t *testing.T) {
		for _, tc := range []struct {
			subject string
			c       fabric.Control
		}{
			{fabric.UserControl(user), fabric.Control{Op: fabric.OpOnline}},
			{gate, fabric.Control{Op: fabric.OpOnline, Session: sid}},
		} {
			r, err := control(logic, tc.subject, tc.c)
			if err != nil || !r.Online || r.Gate != g.ID() || r.Session != sid {
				t.Fatalf("%s: %+v, %v", tc.subject, r, err)
			}
		}
	})
	t.Run("offline user has no responders", func(t *testing.T) {
		_, err := control(logic, fabric.UserControl(user+1), fabric.Control{Op: fabric.OpOnline})
		if !errors.Is(err, nats.ErrNoResponders) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name, subject string
			c             fabric.Control
		}{
			{"unknown op", fabric.UserControl(user), fabric.Control{Op: "dance"}},
			{"unknown session", gate, fabric.Control{Op: fabric.OpOnline, Session: sid + 1000}},
			{"kick of another user's session", gate, fabric.Control{Op: fabric.OpKick, Session: sid, User: user + 1}},
		} {
			if r, err := control(logic, tc.subject, tc.c); err == nil {
				t.Fatalf("%s: %+v", tc.name, r)
			}
		}
		msg, err := logic.Request(gate, []byte("{not json"), 5*time.Second)
		if err != nil || !strings.Contains(string(msg.Data), "malformed") {
			t.Fatalf("malformed control: %v, %v", msg, err)
		}
		if w := whoami(t, c); w.user != user {
			t.Fatalf("session changed: %+v", w)
		}
	})
	t.Run("kick by user", func(t *testing.T) {
		if _, err := control(logic, fabric.UserControl(user), fabric.Control{Op: fabric.OpKick, Code: 4321, Msg: "maintenance"}); err != nil {
			t.Fatal(err)
		}
		// The user is gone as soon as the kick is acknowledged, before the
		// client has read its notice.
		if _, err := control(logic, fabric.UserControl(user), fabric.Control{Op: fabric.OpOnline}); !errors.Is(err, nats.ErrNoResponders) {
			t.Fatalf("online after the kick: %v", err)
		}
		m := expectNotice(t, c, 4321)
		if m.ValidMsg != "maintenance" || m.MsgID != 0 || m.CmdMerge != 0 {
			t.Fatalf("notice %+v", m)
		}
		waitClosed(t, c)
		waitInterest(t, ns, fabric.UserControl(user), false)
	})
	t.Run("kick by session before login", func(t *testing.T) {
		anon := dialT(t, tcpURL(g))
		sid := whoami(t, anon).session
		if _, err := control(logic, gate, fabric.Control{Op: fabric.OpKick, Session: sid}); err != nil {
			t.Fatal(err)
		}
		if m := expectNotice(t, anon, errs.CodeForcedOffline); m.ValidMsg != errs.ErrForcedOffline.Msg {
			t.Fatalf("notice %+v", m)
		}
		waitClosed(t, anon)
	})
}
