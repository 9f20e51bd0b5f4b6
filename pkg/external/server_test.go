package external

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/nats-io/nats.go"
)

func TestRoundTrip(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	metas := make(chan fabric.Meta, 1)
	respond(t, logic, 1, 2, func(m *nats.Msg) (fabric.Reply, []byte, bool) {
		meta, err := fabric.ParseMeta(m.Header)
		if err != nil {
			t.Error(err)
		}
		metas <- meta
		return fabric.Reply{}, append([]byte("echo:"), m.Data...), true
	})
	protoGate := startGate(t, ns, nil)
	jsonGate := startGate(t, ns, func(c *Config) { c.Codec = wire.NameJSON })

	tests := []struct {
		name      string
		url       string
		gate      *Server
		wantCodec string
	}{
		{"ws", wsURL(protoGate), protoGate, ""},
		{"ws json query", wsURL(protoGate) + "?codec=json", protoGate, wire.NameJSON},
		{"ws protobuf query on json gate", wsURL(jsonGate) + "?codec=protobuf", jsonGate, ""},
		{"ws json gate", wsURL(jsonGate) + "?codec=json", jsonGate, wire.NameJSON},
		{"tcp", tcpURL(protoGate), protoGate, ""},
		{"tcp json gate", tcpURL(jsonGate) + "?codec=json", jsonGate, wire.NameJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialT(t, tt.url)
			payload := []byte{0, 1, 2, 0xff, 'h', 'i'}
			req := &wire.Message{CmdCode: wire.CmdBusiness, CmdMerge: wire.Merge(1, 2), Data: payload}
			resp, err := c.RoundTrip(ctxT(t), req)
			if err != nil {
				t.Fatal(err)
			}
			want := wire.Message{CmdCode: wire.CmdBusiness, CmdMerge: wire.Merge(1, 2), MsgID: req.MsgID,
				Data: append([]byte("echo:"), payload...)}
			if !equalMsg(resp, &want) {
				t.Fatalf("response %+v, want %+v", resp, want)
			}
			meta := <-metas
			if meta.MsgID != req.MsgID || meta.Gate != tt.gate.ID() || meta.Codec != tt.wantCodec ||
				meta.UserID != 0 || meta.Session == 0 || meta.Cmd != 1 || meta.Sub != 2 {
				t.Fatalf("meta %+v", meta)
			}
		})
	}
}

func equalMsg(a, b *wire.Message) bool {
	return a.CmdCode == b.CmdCode && a.CmdMerge == b.CmdMerge && a.Status == b.Status &&
		a.ValidMsg == b.ValidMsg && a.MsgID == b.MsgID && bytes.Equal(a.Data, b.Data)
}

func TestErrorResponses(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	respond(t, logic, 2, 1, func(*nats.Msg) (fabric.Reply, []byte, bool) {
		return fabric.Reply{Status: 1001, Error: "not enough gold"}, nil, true
	})
	respond(t, logic, 2, 2, func(*nats.Msg) (fabric.Reply, []byte, bool) { return fabric.Reply{}, nil, false })
	respond(t, logic, 2, 3, func(*nats.Msg) (fabric.Reply, []byte, bool) {
		return fabric.Reply{}, []byte("ok"), true
	})
	g := startGate(t, ns, func(c *Config) { c.RequestTimeout = 50 * time.Millisecond })

	tests := []struct {
		name     string
		cmd, sub int32
		code     int32
		msg      string
	}{
		{"application error", 2, 1, 1001, "not enough gold"},
		{"no responders", 9, 9, errs.CodeRouteNotFound, "route not found"},
		{"timeout", 2, 2, errs.CodeSystem, "request timeout"},
	}
	for _, tt := range tests {
		for _, url := range []string{wsURL(g), tcpURL(g)} {
			t.Run(tt.name+" "+url[:3], func(t *testing.T) {
				c := dialT(t, url)
				resp, err := c.Request(ctxT(t), tt.cmd, tt.sub, []byte("x"))
				if err != nil {
					t.Fatal(err)
				}
				if resp.Status != tt.code || resp.ValidMsg != tt.msg || resp.CmdMerge != wire.Merge(tt.cmd, tt.sub) {
					t.Fatalf("got %d %q, want %d %q", resp.Status, resp.ValidMsg, tt.code, tt.msg)
				}
				_, err = client.Call[string, string](ctxT(t), c, tt.cmd, tt.sub, "x")
				if e, ok := errors.AsType[*errs.Error](err); !ok || e.Code != tt.code || e.Msg != tt.msg {
					t.Fatalf("Call error %v, want code %d", err, tt.code)
				}
				// The connection is still usable.
				got, err := client.Call[[]byte, []byte](ctxT(t), c, 2, 3, nil)
				if err != nil || string(got) != "ok" {
					t.Fatalf("after error: %q, %v", got, err)
				}
			})
		}
	}
	waitFor(t, time.Second, func() error {
		if n := g.pending.len(); n != 0 {
			return fmt.Errorf("%d requests still pending", n)
		}
		return nil
	})
}

func TestLateReplyIgnored(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	held := make(chan *nats.Msg, 1)
	respond(t, logic, 3, 1, func(m *nats.Msg) (fabric.Reply, []byte, bool) {
		held <- m
		return fabric.Reply{}, nil, false
	})
	respond(t, logic, 3, 2, echo)
	g := startGate(t, ns, func(c *Config) { c.RequestTimeout = 30 * time.Millisecond })
	c := dialT(t, tcpURL(g))

	resp, err := c.Request(ctxT(t), 3, 1, nil)
	if err != nil || resp.ValidMsg != "request timeout" {
		t.Fatalf("got %+v, %v", resp, err)
	}
	late := <-held
	if err := logic.PublishMsg(&nats.Msg{Subject: late.Reply, Data: []byte("late")}); err != nil {
		t.Fatal(err)
	}
	// The late reply goes nowhere; the next request gets its own answer.
	for i := range 3 {
		want := []byte(strconv.Itoa(i))
		resp, err := c.Request(ctxT(t), 3, 2, want)
		if err != nil || !bytes.Equal(resp.Data, want) {
			t.Fatalf("got %+v, %v", resp, err)
		}
	}
	select {
	case p := <-c.Pushes():
		t.Fatalf("unexpected envelope %+v", p)
	default:
	}
}

func TestHeartbeat(t *testing.T) {
	ns := runNATS(t)
	g := startGate(t, ns, nil)
	for _, url := range []string{wsURL(g), tcpURL(g), wsURL(g) + "?codec=json"} {
		t.Run(url[:3], func(t *testing.T) {
			c := dialT(t, url)
			before, _ := ns.Varz(nil)
			for range 3 {
				req := &wire.Message{CmdCode: wire.CmdHeartbeat}
				resp, err := c.RoundTrip(ctxT(t), req)
				if err != nil {
					t.Fatal(err)
				}
				if resp.CmdCode != wire.CmdHeartbeat || resp.MsgID != req.MsgID || resp.Status != 0 {
					t.Fatalf("heartbeat response %+v", resp)
				}
			}
			if err := c.Heartbeat(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			after, _ := ns.Varz(nil)
			if after.InMsgs != before.InMsgs {
				t.Fatalf("heartbeats caused %d broker messages", after.InMsgs-before.InMsgs)
			}
		})
	}
}

func TestUnknownCmdCode(t *testing.T) {
	ns := runNATS(t)
	g := startGate(t, ns, nil)
	c := dialT(t, tcpURL(g))
	req := &wire.Message{CmdCode: 7, CmdMerge: wire.Merge(1, 1)}
	resp, err := c.RoundTrip(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.CmdCode != 7 || resp.MsgID != req.MsgID || resp.Status != errs.CodeSystem {
		t.Fatalf("response %+v", resp)
	}
	if err := c.Heartbeat(ctxT(t)); err != nil {
		t.Fatalf("connection closed after unknown cmdCode: %v", err)
	}
}

func TestPipelined(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	const reversed = 16
	var (
		mu   sync.Mutex
		held []*nats.Msg
	)
	// Route (4, 1) answers only once all requests are in, in reverse
	// order: a gate that waited for each reply would never get there.
	respond(t, logic, 4, 1, func(m *nats.Msg) (fabric.Reply, []byte, bool) {
		mu.Lock()
		defer mu.Unlock()
		held = append(held, m)
		if len(held) == reversed {
			for i := len(held) - 1; i >= 0; i-- {
				_ = logic.Publish(held[i].Reply, held[i].Data)
			}
		}
		return fabric.Reply{}, nil, false
	})
	respond(t, logic, 4, 2, echo)
	g := startGate(t, ns, func(c *Config) { c.RateLimit, c.RateCeiling = -1, -1 })

	tests := []struct {
		name     string
		url      string
		sub      int32
		requests int
	}{
		{"ws reversed", wsURL(g), 1, reversed},
		{"tcp reversed", tcpURL(g), 1, reversed},
		{"ws many", wsURL(g), 2, 500},
		{"tcp many", tcpURL(g), 2, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			held = nil
			mu.Unlock()
			c := dialT(t, tt.url)
			var wg sync.WaitGroup
			errc := make(chan error, tt.requests)
			for i := range tt.requests {
				wg.Go(func() {
					want := []byte(fmt.Sprintf("req-%d", i))
					resp, err := c.Request(ctxT(t), 4, tt.sub, want)
					switch {
					case err != nil:
						errc <- err
					case !bytes.Equal(resp.Data, want) || resp.Status != 0:
						errc <- fmt.Errorf("request %d got %q status %d", i, resp.Data, resp.Status)
					}
				})
			}
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Fatal(err)
			}
		})
	}
}

func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	respond(t, logic, 1, 1, echo)
	g := startGate(t, ns, func(c *Config) { c.MaxFrame = 1024 })

	frame := func(n uint32, body []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, n), body...)
	}
	tests := []struct {
		name string
		url  string
		raw  []byte
	}{
		{"ws malformed protobuf", wsURL(g), []byte{0xff, 0xff, 0xff}},
		{"ws wrong wire type", wsURL(g), []byte{0x0d, 1, 2, 3, 4}},
		{"ws malformed json", wsURL(g) + "?codec=json", []byte("{not json")},
		{"tcp malformed protobuf", tcpURL(g), frame(3, []byte{0xff, 0xff, 0xff})},
		{"ws oversize", wsURL(g), bytes.Repeat([]byte{0x30}, 2048)},
		{"tcp oversize", tcpURL(g), frame(2048, nil)},
	}
	good := dialT(t, wsURL(g))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := dialT(t, tt.url)
			if err := bad.Heartbeat(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			if err := bad.SendRaw(tt.raw); err != nil {
				t.Fatal(err)
			}
			waitClosed(t, bad)
			resp, err := good.Request(ctxT(t), 1, 1, []byte(tt.name))
			if err != nil || string(resp.Data) != tt.name {
				t.Fatalf("other client: %+v, %v", resp, err)
			}
		})
	}
	waitFor(t, 5*time.Second, func() error {
		if n := g.Sessions(); n != 1 {
			return fmt.Errorf("%d sessions, want 1", n)
		}
		return nil
	})
}

func TestBindAndPush(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	// (1, 0) logs in as the user named in the body; (1, 1) answers with
	// the user the request carries.
	respond(t, logic, 1, 0, func(m *nats.Msg) (fabric.Reply, []byte, bool) {
		id, _ := strconv.ParseInt(string(m.Data), 10, 64)
		if err := bindSession(logic, m, id); err != nil {
			t.Error(err)
		}
		return fabric.Reply{}, []byte("welcome"), true
	})
	respond(t, logic, 1, 1, func(m *nats.Msg) (fabric.Reply, []byte, bool) {
		meta, _ := fabric.ParseMeta(m.Header)
		return fabric.Reply{}, []byte(strconv.FormatInt(meta.UserID, 10)), true
	})
	g := startGate(t, ns, nil)
	whoami := func(t *testing.T, c *client.Client) string {
		resp, err := c.Request(ctxT(t), 1, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		return string(resp.Data)
	}
	login := func(t *testing.T, c *client.Client, id string) {
		resp, err := c.Request(ctxT(t), 1, 0, []byte(id))
		if err != nil || string(resp.Data) != "welcome" {
			t.Fatalf("login: %+v %v", resp, err)
		}
	}
	push := func(t *testing.T, subject string, cmd, sub int32, body string) {
		meta := fabric.Meta{Cmd: cmd, Sub: sub}
		if err := logic.PublishMsg(&nats.Msg{Subject: subject, Header: meta.Header(), Data: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	expectPush := func(t *testing.T, c *client.Client, merge int32, body string) {
		t.Helper()
		select {
		case m := <-c.Pushes():
			if m.CmdCode != wire.CmdBusiness || m.CmdMerge != merge || m.MsgID != 0 || string(m.Data) != body {
				t.Fatalf("push %+v, want route %d body %q", m, merge, body)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no push %q", body)
		}
	}

	alice := dialT(t, wsURL(g))
	bob := dialT(t, tcpURL(g))
	anon := dialT(t, wsURL(g)+"?codec=json")
	if err := anon.Heartbeat(ctxT(t)); err != nil { // its session is registered
		t.Fatal(err)
	}

	t.Run("bind", func(t *testing.T) {
		if got := whoami(t, alice); got != "0" {
			t.Fatalf("before login: user %s", got)
		}
		login(t, alice, "42")
		if got := whoami(t, alice); got != "42" {
			t.Fatalf("after login: user %s", got)
		}
		login(t, bob, "43")
		if got := whoami(t, bob); got != "43" {
			t.Fatalf("bob: user %s", got)
		}
	})
	t.Run("push to user", func(t *testing.T) {
		waitInterest(t, ns, fabric.UserPush(42), true)
		push(t, fabric.UserPush(42), 5, 6, "hi alice")
		expectPush(t, alice, wire.Merge(5, 6), "hi alice")
	})
	t.Run("push to all", func(t *testing.T) {
		push(t, fabric.PushAll, 7, 1, "hello all")
		for _, c := range []*client.Client{alice, bob, anon} {
			expectPush(t, c, wire.Merge(7, 1), "hello all") // bob's first push: he got none of alice's
		}
	})
	t.Run("rebind moves the subscription", func(t *testing.T) {
		login(t, alice, "44")
		waitInterest(t, ns, fabric.UserPush(42), false)
		waitInterest(t, ns, fabric.UserPush(44), true)
		push(t, fabric.UserPush(44), 5, 7, "hi again")
		expectPush(t, alice, wire.Merge(5, 7), "hi again")
	})
	t.Run("close unbinds", func(t *testing.T) {
		_ = bob.Close()
		waitInterest(t, ns, fabric.UserPush(43), false)
	})
}

func TestShutdown(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	respond(t, logic, 1, 0, func(m *nats.Msg) (fabric.Reply, []byte, bool) {
		if err := bindSession(logic, m, 7); err != nil {
			t.Error(err)
		}
		return fabric.Reply{}, nil, true
	})
	// An in-process connection owned by the caller survives the gate.
	nc, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	g, err := New(Config{WSAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", Conn: nc, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctxT(t)); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start: %v", err)
	}
	ws := dialT(t, wsURL(g))
	tcp := dialT(t, tcpURL(g))
	if _, err := ws.Request(ctxT(t), 1, 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := tcp.Heartbeat(ctxT(t)); err != nil {
		t.Fatal(err)
	}

	if err := g.Shutdown(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, ws)
	waitClosed(t, tcp)
	if !fws.IsCloseError(ws.Err(), fws.CloseGoingAway) {
		t.Errorf("websocket client: %v, want close 1001", ws.Err())
	}
	if n := g.Sessions(); n != 0 {
		t.Fatalf("%d sessions after shutdown", n)
	}
	if !nc.IsConnected() {
		t.Fatal("shutdown closed the caller's connection")
	}
	waitInterest(t, ns, fabric.UserPush(7), false)
	waitInterest(t, ns, fabric.PushAll, false)
	if err := g.Shutdown(ctxT(t)); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := g.Start(ctxT(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Shutdown: %v", err)
	}
	if _, err := client.Dial(ctxT(t), tcpURL(g)); err == nil {
		t.Fatal("dial after shutdown succeeded")
	}
	var nilServer *Server
	if err := nilServer.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestRun(t *testing.T) {
	ns := runNATS(t)
	g, err := New(Config{TCPAddr: "127.0.0.1:0", Brokers: []string{ns.ClientURL()}, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	waitFor(t, 5*time.Second, func() error {
		if g.TCPAddr() == nil {
			return errors.New("not listening")
		}
		return nil
	})
	c := dialT(t, tcpURL(g))
	if err := c.Heartbeat(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitClosed(t, c)
}

func TestStartFailureCleansUp(t *testing.T) {
	ns := runNATS(t)
	busy := startGate(t, ns, nil)
	g, err := New(Config{TCPAddr: busy.TCPAddr().String(), Brokers: []string{ns.ClientURL()}, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctxT(t)); err == nil {
		t.Fatal("Start on a busy port succeeded")
	}
	if err := g.Shutdown(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	waitInterest(t, ns, fabric.GateReply(g.ID(), 1), false)
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"ws only", Config{WSAddr: ":0"}, true},
		{"tcp only", Config{TCPAddr: ":0", ID: "gate-1_A"}, true},
		{"full", Config{WSAddr: ":0", TCPAddr: ":0", WSPath: "/ws", Codec: "json", MaxFrame: 10,
			RequestTimeout: time.Second, WriteQueue: 5, Brokers: []string{"nats://a:4222"}}, true},
		{"no transport", Config{}, false},
		{"dotted ID", Config{WSAddr: ":0", ID: "a.b"}, false},
		{"wildcard ID", Config{WSAddr: ":0", ID: "a*"}, false},
		{"space in ID", Config{WSAddr: ":0", ID: "a b"}, false},
		{"relative path", Config{WSAddr: ":0", WSPath: "ws"}, false},
		{"unknown codec", Config{WSAddr: ":0", Codec: "xml"}, false},
		{"negative frame", Config{WSAddr: ":0", MaxFrame: -1}, false},
		{"negative timeout", Config{WSAddr: ":0", RequestTimeout: -1}, false},
		{"negative queue", Config{WSAddr: ":0", WriteQueue: -1}, false},
		{"conn and brokers", Config{WSAddr: ":0", Conn: &nats.Conn{}, Brokers: []string{"x"}}, false},
		{"empty broker", Config{WSAddr: ":0", Brokers: []string{" "}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if _, err := New(tt.cfg); (err == nil) != tt.ok {
				t.Fatalf("New() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	d := Config{WSAddr: ":0"}.withDefaults()
	if validToken(d.ID) != nil || d.WSPath != DefaultWSPath || d.Codec != wire.NameProtobuf ||
		d.MaxFrame != wire.DefaultMaxFrame || d.RequestTimeout != DefaultRequestTimeout ||
		d.WriteQueue != DefaultWriteQueue || len(d.Brokers) != 1 || d.Logger == nil {
		t.Fatalf("defaults: %+v", d)
	}
}

// TestSlowClientClosed floods a client that reads nothing: its session is
// closed when its queue overflows, and the gate keeps serving others.
func TestSlowClientClosed(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	respond(t, logic, 1, 1, echo)
	g := startGate(t, ns, func(c *Config) { c.WriteQueue = 4 })
	slow, err := net.Dial("tcp", g.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	_ = slow.(*net.TCPConn).SetReadBuffer(4096)
	waitFor(t, 5*time.Second, func() error {
		if g.Sessions() != 1 {
			return errors.New("slow client not registered")
		}
		return nil
	})
	// 32 MiB: more than the kernel buffers (tcp_wmem max 4 MiB) can hold.
	body := make([]byte, 256<<10)
	hdr := fabric.Meta{Cmd: 1, Sub: 1}
	for range 128 {
		if err := logic.PublishMsg(&nats.Msg{Subject: fabric.PushAll, Header: hdr.Header(), Data: body}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, func() error {
		if n := g.Sessions(); n != 0 {
			return fmt.Errorf("%d sessions, want the slow one closed", n)
		}
		return nil
	})
	// Wait for the flood to pass before a new client with the same small
	// queue connects.
	waitFor(t, 10*time.Second, func() error {
		if n, _ := g.subs[1].Delivered(); n != 128 || len(g.pushCh) != 0 {
			return fmt.Errorf("%d pushes received, %d queued", n, len(g.pushCh))
		}
		return nil
	})
	c := dialT(t, tcpURL(g))
	if resp, err := c.Request(ctxT(t), 1, 1, []byte("still serving")); err != nil || string(resp.Data) != "still serving" {
		t.Fatalf("after the slow client: %+v, %v", resp, err)
	}
}

// TestShutdownAnswersInFlight: a request forwarded before Shutdown gets its
// answer before the session closes; a request arriving meanwhile is refused
// with "server shutting down", not dropped.
func TestShutdownAnswersInFlight(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	arrived := make(chan *nats.Msg, 1)
	respond(t, logic, 1, 0, func(m *nats.Msg) (fabric.Reply, []byte, bool) {
		arrived <- m
		return fabric.Reply{}, nil, false // answered below, once shutdown began
	})
	respond(t, logic, 1, 1, echo)
	g := startGate(t, ns, nil)
	c := dialT(t, tcpURL(g))
	slow := make(chan error, 1)
	go func() {
		resp, err := c.Request(ctxT(t), 1, 0, []byte("slow"))
		if err == nil && resp.Status != 0 {
			err = fmt.Errorf("status %d %q", resp.Status, resp.ValidMsg)
		}
		slow <- err
	}()
	m := <-arrived
	stopped := make(chan error, 1)
	go func() { stopped <- g.Shutdown(ctxT(t)) }()
	waitFor(t, 10*time.Second, func() error {
		if !g.draining.Load() {
			return errors.New("not draining yet")
		}
		return nil
	})
	resp, err := c.Request(ctxT(t), 1, 1, []byte("late"))
	if err != nil || resp.Status != errs.CodeSystem || resp.ValidMsg != "server shutting down" {
		t.Fatalf("request during shutdown: %+v, %v", resp, err)
	}
	var ok fabric.Reply
	if err := logic.PublishMsg(&nats.Msg{Subject: m.Reply, Header: ok.Header(), Data: []byte("done")}); err != nil {
		t.Fatal(err)
	}
	if err := <-slow; err != nil {
		t.Fatalf("in-flight request: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	waitClosed(t, c)
}
