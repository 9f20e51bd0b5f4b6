package external

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/registry"
	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/nats-io/nats.go"
)

// control sends a control request to subject and returns the reply; a
// reply that is not OK is an error.
func control(nc *nats.Conn, subject string, c fabric.Control) (fabric.ControlReply, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return fabric.ControlReply{}, err
	}
	msg, err := nc.Request(subject, b, 5*time.Second)
	if err != nil {
		return fabric.ControlReply{}, err
	}
	var r fabric.ControlReply
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		return r, fmt.Errorf("control reply %q: %w", msg.Data, err)
	}
	if !r.OK {
		return r, errors.New(r.Error)
	}
	return r, nil
}

// bindSession logs the session of request m in as user, as a logic
// handler's Ctx.Bind does.
func bindSession(nc *nats.Conn, m *nats.Msg, user int64) error {
	meta, err := fabric.ParseMeta(m.Header)
	if err != nil {
		return err
	}
	_, err = control(nc, fabric.GateControl(meta.Gate), fabric.Control{Op: fabric.OpBind, Session: meta.Session, User: user})
	return err
}

// Routes of the fake logic service.
const (
	cmdGate   = 1
	subLogin  = 0 // public: binds the session to the user in the body
	subWhoami = 1 // login: answers "userID session attrs"
	subPublic = 2 // public: answers like whoami
)

// serveLogin serves the fake login routes on nc. Logins run concurrently,
// as they do for different sessions on a logic server.
func serveLogin(t testing.TB, nc *nats.Conn) {
	t.Helper()
	serveRoutes(t, nc, "login", registry.AccessPublic, wire.Merge(cmdGate, subLogin), wire.Merge(cmdGate, subPublic))
	serveRoutes(t, nc, "login-private", registry.AccessLogin, wire.Merge(cmdGate, subWhoami))
	var wg sync.WaitGroup
	reply := func(m *nats.Msg, r fabric.Reply, body string) {
		_ = nc.PublishMsg(&nats.Msg{Subject: m.Reply, Header: r.Header(), Data: []byte(body)})
	}
	login, err := nc.QueueSubscribe(fabric.Request(cmdGate, subLogin), "test", func(m *nats.Msg) {
		wg.Go(func() {
			id, _ := strconv.ParseInt(string(m.Data), 10, 64)
			if err := bindSession(nc, m, id); err != nil {
				reply(m, fabric.Reply{Status: errs.CodeSystem, Error: err.Error()}, "")
				return
			}
			reply(m, fabric.Reply{}, "welcome")
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	whoami := func(m *nats.Msg) {
		meta, err := fabric.ParseMeta(m.Header)
		if err != nil {
			t.Error(err)
		}
		reply(m, fabric.Reply{}, fmt.Sprintf("%d %d %s", meta.UserID, meta.Session, meta.Attrs))
	}
	who, err := nc.QueueSubscribe(fabric.Request(cmdGate, subWhoami), "test", whoami)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := nc.QueueSubscribe(fabric.Request(cmdGate, subPublic), "test", whoami)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, s := range []*nats.Subscription{login, who, pub} {
			_ = s.Unsubscribe()
		}
		wg.Wait()
	})
}

// login logs c in as user through the fake login route.
func login(t testing.TB, c *client.Client, user int64) {
	t.Helper()
	resp, err := c.Request(ctxT(t), cmdGate, subLogin, []byte(strconv.FormatInt(user, 10)))
	if err != nil || resp.Status != 0 || string(resp.Data) != "welcome" {
		t.Fatalf("login as %d: %+v, %v", user, resp, err)
	}
}

// whoami is what the gate tells logic servers about c's session.
type whoamiResp struct {
	user    int64
	session uint64
	attrs   string
}

// whoami asks the public route who c is.
func whoami(t testing.TB, c *client.Client) whoamiResp {
	t.Helper()
	resp, err := c.Request(ctxT(t), cmdGate, subPublic, nil)
	if err != nil || resp.Status != 0 {
		t.Fatalf("whoami: %+v, %v", resp, err)
	}
	return parseWhoami(t, resp.Data)
}

func parseWhoami(t testing.TB, data []byte) whoamiResp {
	t.Helper()
	f := strings.SplitN(string(data), " ", 3)
	if len(f) != 3 {
		t.Fatalf("whoami %q", data)
	}
	var w whoamiResp
	var err1, err2 error
	w.user, err1 = strconv.ParseInt(f[0], 10, 64)
	w.session, err2 = strconv.ParseUint(f[1], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatalf("whoami %q: %v", data, err)
	}
	w.attrs = f[2]
	return w
}

// expectNotice waits for an envelope with MsgID 0 and status code.
func expectNotice(t testing.TB, c *client.Client, code int32) *wire.Message {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m, ok := <-c.Pushes():
			if !ok {
				t.Fatalf("connection ended without a notice %d", code)
			}
			if m.Status == code {
				return m
			}
		case <-timeout:
			t.Fatalf("no notice %d", code)
		}
	}
}

func TestLoginBindsAndReleases(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	serveLogin(t, logic)
	reg := openRegistry(t, logic)
	g := startGate(t, ns, nil)
	c := dialT(t, tcpURL(g))

	if w := whoami(t, c); w.user != 0 || w.session == 0 {
		t.Fatalf("before login: %+v", w)
	}
	login(t, c, 31)
	w := whoami(t, c)
	if w.user != 31 {
		t.Fatalf("after login: %+v", w)
	}
	b, err := reg.Binding(ctxT(t), 31)
	if err != nil || b.Gate != g.ID() || b.Session != w.session {
		t.Fatalf("binding %+v, %v; want gate %s session %d", b, err, g.ID(), w.session)
	}
	// Logging in again as the same user changes nothing.
	login(t, c, 31)
	if _, err := control(logic, fabric.UserControl(31), fabric.Control{Op: fabric.OpOnline}); err != nil {
		t.Fatal(err)
	}
	// A logic binding written meanwhile survives the session.
	if _, _, err := reg.UpdateBinding(ctxT(t), 31, func(b *registry.Binding) error {
		b.Logic = map[string]string{"test": "i-1"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	waitFor(t, 5*time.Second, func() error {
		b, err := reg.Binding(ctxT(t), 31)
		if err != nil || b.Gate != "" || b.Session != 0 || b.Logic["test"] != "i-1" {
			return fmt.Errorf("binding after close: %+v, %v", b, err)
		}
		return nil
	})
	waitInterest(t, ns, fabric.UserControl(31), false)
}

func TestBindErrors(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	serveLogin(t, logic)
	g := startGate(t, ns, nil)
	c := dialT(t, tcpURL(g))
	sid := whoami(t, c).session
	login(t, c, 5)

	tests := []struct {
		name    string
		subject string
		c       fabric.Control
		gone    bool // the reply says the session is gone
	}{
		{"unknown session", fabric.GateControl(g.ID()), fabric.Control{Op: fabric.OpBind, Session: sid + 100, User: 1}, true},
		{"unbind an unknown session", fabric.GateControl(g.ID()), fabric.Control{Op: fabric.OpUnbind, Session: sid + 100}, true},
		{"attributes of an unknown session", fabric.GateControl(g.ID()), fabric.Control{Op: fabric.OpSetAttrs, Session: sid + 100, Attrs: map[string]string{"a": "b"}}, true},
		{"user 0", fabric.GateControl(g.ID()), fabric.Control{Op: fabric.OpBind, Session: sid}, false},
		{"bind on the user subject", fabric.UserControl(5), fabric.Control{Op: fabric.OpBind, Session: sid, User: 6}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := control(logic, tt.subject, tt.c)
			if err == nil {
				t.Fatalf("reply %+v, want an error", r)
			}
			if r.Gone != tt.gone {
				t.Fatalf("reply %+v: Gone %v, want %v", r, r.Gone, tt.gone)
			}
		})
	}
	if w := whoami(t, c); w.user != 5 {
		t.Fatalf("after failed binds: %+v", w)
	}
}

// TestBindSwitchesUsers logs one connection in as A, then as B: pushes
// and control messages for A no longer reach it, and A's entry is free.
func TestBindSwitchesUsers(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	serveLogin(t, logic)
	reg := openRegistry(t, logic)
	g := startGate(t, ns, nil)
	c := dialT(t, wsURL(g))
	const a, b = 21, 22
	login(t, c, a)
	login(t, c, b)
	if w := whoami(t, c); w.user != b {
		t.Fatalf("after the switch: %+v", w)
	}
	waitInterest(t, ns, fabric.UserPush(a), false)
	waitInterest(t, ns, fabric.UserControl(a), false)
	// Both pushes go out on one connection in this order: had the first
	// reached the client, it would arrive first.
	for _, user := range []int64{a, b} {
		meta := fabric.Meta{Cmd: 9, Sub: int32(user)}
		if err := logic.PublishMsg(&nats.Msg{Subject: fabric.UserPush(user), Header: meta.Header(), Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case m := <-c.Pushes():
		if m.CmdMerge != wire.Merge(9, b) {
			t.Fatalf("got push %+v, want only B's", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no push for B")
	}
	if _, err := control(logic, fabric.UserControl(a), fabric.Control{Op: fabric.OpOnline}); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("A online: %v", err)
	}
	waitFor(t, 5*time.Second, func() error {
		ba, err := reg.Binding(ctxT(t), a)
		if err != nil || ba.Gate != "" {
			return fmt.Errorf("A's binding %+v, %v", ba, err)
		}
		bb, err := reg.Binding(ctxT(t), b)
		if err != nil || bb.Gate != g.ID() {
			return fmt.Errorf("B's binding %+v, %v", bb, err)
		}
		return nil
	})
}

// TestDuplicateLogin logs one user in from 100 connections at once, on
// two gates: exactly one session survives, and every other one was told
// errs.CodeForcedOffline before its connection closed.
func TestDuplicateLogin(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	serveLogin(t, logic)
	reg := openRegistry(t, logic)
	gates := []*Server{startGate(t, ns, nil), startGate(t, ns, nil)}
	const n, user = 100, 777

	clients := make([]*client.Client, n)
	for i := range clients {
		g := gates[i%2]
		url := tcpURL(g)
		if i%4 >= 2 {
			url = wsURL(g)
		}
		clients[i] = dialT(t, url)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, c := range clients {
		wg.Go(func() {
			<-start
			// Kicked sessions may see an error or no answer at all.
			_, _ = c.Request(ctxT(t), cmdGate, subLogin, []byte(strconv.Itoa(user)))
		})
	}
	close(start)
	wg.Wait()
	waitFor(t, 10*time.Second, func() error {
		if n := gates[0].Sessions() + gates[1].Sessions(); n != 1 {
			return fmt.Errorf("%d sessions, want 1", n)
		}
		return nil
	})

	// The kicked clients learn of their closed connections a moment after
	// the gates dropped them.
	alive := func() (n int) {
		for _, c := range clients {
			select {
			case <-c.Done():
			default:
				n++
			}
		}
		return n
	}
	waitFor(t, 10*time.Second, func() error {
		if n := alive(); n != 1 {
			return fmt.Errorf("%d clients connected, want 1", n)
		}
		return nil
	})
	var survivor *client.Client
	for i, c := range clients {
		select {
		case <-c.Done():
			kicked := false
			for m := range c.Pushes() { // closed once the connection has ended
				if m.Status == errs.CodeForcedOffline && m.MsgID == 0 && m.ValidMsg == kickedMsg {
					kicked = true
				}
			}
			if !kicked {
				t.Errorf("client %d closed without %d: %v", i, errs.CodeForcedOffline, c.Err())
			}
		default:
			if survivor != nil {
				t.Fatalf("clients %d and another one both alive", i)
			}
			survivor = c
		}
	}
	if survivor == nil {
		t.Fatal("no session survived")
	}
	w := whoami(t, survivor)
	if w.user != user {
		t.Fatalf("survivor: %+v", w)
	}
	b, err := reg.Binding(ctxT(t), user)
	if err != nil || b.Session != w.session {
		t.Fatalf("binding %+v, %v; want session %d", b, err, w.session)
	}
	r, err := control(logic, fabric.UserControl(user), fabric.Control{Op: fabric.OpOnline})
	if err != nil || r.Session != w.session || r.Gate != b.Gate {
		t.Fatalf("online: %+v, %v", r, err)
	}
}

// TestLoginAfterGateLoss: a login whose previous session was on a gate
// that is gone proceeds at once.
func TestLoginAfterGateLoss(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	serveLogin(t, logic)
	reg := openRegistry(t, logic)
	// The entry names a session of a gate that no longer exists.
	if _, _, err := reg.UpdateBinding(ctxT(t), 41, func(b *registry.Binding) error {
		b.Gate, b.Session = "ext-gone", 3
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	g := startGate(t, ns, nil)
	c := dialT(t, tcpURL(g))
	start := time.Now()
	login(t, c, 41)
	if d := time.Since(start); d >= kickTimeout {
		t.Fatalf("login took %v: it waited for the dead gate", d)
	}
}

func TestBindRaceWithClose(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	serveLogin(t, logic)
	reg := openRegistry(t, logic)
	g := startGate(t, ns, nil)
	// A session that closes while its binds are in flight must not stay
	// in the registry, whichever wins.
	for i := range 20 {
		c := dialT(t, tcpURL(g))
		sid := whoami(t, c).session
		user := int64(100 + i)
		done := make(chan error, 1)
		go func() {
			_, err := control(logic, fabric.GateControl(g.ID()), fabric.Control{Op: fabric.OpBind, Session: sid, User: user})
			done <- err
		}()
		_ = c.Close()
		<-done
		waitFor(t, 5*time.Second, func() error {
			b, err := reg.Binding(ctxT(t), user)
			if err != nil || b.Gate != "" {
				return fmt.Errorf("user %d: binding %+v, %v", user, b, err)
			}
			return nil
		})
	}
	waitFor(t, 5*time.Second, func() error {
		g.mu.RLock()
		defer g.mu.RUnlock()
		if len(g.users) != 0 || len(g.bySub) != 0 || len(g.sessions) != 0 {
			return fmt.Errorf("%d users, %d subscriptions, %d sessions left", len(g.users), len(g.bySub), len(g.sessions))
		}
		return nil
	})
}

// TestUnbind: OpUnbind logs a session out and leaves it connected: the
// user's subjects and registry entry let go of it, login-only routes
// refuse it again, and it can log in anew.
func TestUnbind(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	serveLogin(t, logic)
	reg := openRegistry(t, logic)
	g := startGate(t, ns, nil)
	c := dialT(t, tcpURL(g))
	login(t, c, 41)
	sid := whoami(t, c).session

	steps := []struct {
		name    string
		subject string
		c       fabric.Control
		fails   bool
	}{
		{"on the user subject", fabric.UserControl(41), fabric.Control{Op: fabric.OpUnbind, Session: sid}, true},
		{"unknown session", fabric.GateControl(g.ID()), fabric.Control{Op: fabric.OpUnbind, Session: sid + 100}, true},
		{"logs out", fabric.GateControl(g.ID()), fabric.Control{Op: fabric.OpUnbind, Session: sid}, false},
		{"again: nothing to do", fabric.GateControl(g.ID()), fabric.Control{Op: fabric.OpUnbind, Session: sid}, false},
	}
	for _, st := range steps {
		if _, err := control(logic, st.subject, st.c); (err != nil) != st.fails {
			t.Fatalf("%s: %v, want failure %v", st.name, err, st.fails)
		}
	}
	if w := whoami(t, c); w.user != 0 || w.session != sid {
		t.Fatalf("after unbind: %+v", w)
	}
	waitInterest(t, ns, fabric.UserControl(41), false)
	waitInterest(t, ns, fabric.UserPush(41), false)
	b, err := reg.Binding(ctxT(t), 41)
	if err != nil || b.Gate != "" || b.Session != 0 {
		t.Fatalf("binding after unbind: %+v, %v", b, err)
	}
	login(t, c, 42)
	if w := whoami(t, c); w.user != 42 || w.session != sid {
		t.Fatalf("after a new login: %+v", w)
	}
}
