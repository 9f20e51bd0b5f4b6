package tests

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/registry"
	demo "github.com/iogo-dev/iogo/proto/demo"
	"github.com/iogo-dev/iogo/proto/iohao"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// The external server (gate) across real processes: route registry and
// access rules, hot-swapped logic servers, login and the duplicate-login
// policy, player-to-logic-server bindings, session attributes and JSON
// pushes. testsvc serves cmd 21 for these tests (tests/testsvc/gate.go)
// and 20-0, which names the serving instance.

// Routes of testsvc cmd 21 and 20.
const (
	cmdGate      = 21
	gateLogin    = 0
	gateWhoami   = 1
	gateInternal = 2
	gateAttrs    = 3
	gateSetAttr  = 4
	gatePushSelf = 5
	gatePushTo   = 6
	gateBindHere = 7
	gateV2       = 8
	gatePush     = 100
	cmdBasics    = 20
	subSlow      = 1 // of cmdBasics: int32 ms of exclusive work (testsvc basics.go)
)

// gateCluster is a running deployment for the gate tests: a broker,
// gates, testsvc instances, and the test's own connection to the broker.
type gateCluster struct {
	broker string
	gates  []*proc
	svcs   map[string]*proc
	nc     *nats.Conn
	reg    *registry.Registry
}

// startGateCluster runs a broker, testsvc instances with the given IDs and
// n gates, as separate processes on random ports.
func startGateCluster(t *testing.T, n int, instances ...string) *gateCluster {
	t.Helper()
	b := startProc(t, "broker", "broker", "-host", "127.0.0.1", "-port", "-1", "-store", t.TempDir())
	gc := &gateCluster{broker: b.ready["nats"], svcs: map[string]*proc{}}
	for _, id := range instances {
		gc.startSvc(t, id)
	}
	for i := range n {
		gc.gates = append(gc.gates, startProc(t, "external", "external", "-brokers", gc.broker,
			"-id", "gate"+strconv.Itoa(i), "-ws", "127.0.0.1:0", "-tcp", "127.0.0.1:0", "-rate", "-1"))
	}
	nc, err := nats.Connect(gc.broker)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if gc.reg, err = registry.Open(deadline(t), js); err != nil {
		t.Fatal(err)
	}
	gc.nc = nc
	return gc
}

// startSvc runs one more testsvc instance.
func (gc *gateCluster) startSvc(t *testing.T, id string) *proc {
	t.Helper()
	p := startProc(t, "testsvc", "logic", "-brokers", gc.broker, "-id", id)
	gc.svcs[id] = p
	return p
}

// control sends a control request from the test, as a logic server would.
func (gc *gateCluster) control(t *testing.T, subject string, c fabric.Control) (fabric.ControlReply, error) {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := gc.nc.RequestWithContext(deadline(t), subject, b)
	if err != nil {
		return fabric.ControlReply{}, err
	}
	var r fabric.ControlReply
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		t.Fatal(err)
	}
	if !r.OK {
		return r, errors.New(r.Error)
	}
	return r, nil
}

// gclient is a spec-level client whose envelopes are read by a goroutine
// of its own, so that a test sees when the gate closes the connection.
type gclient struct {
	t    *testing.T
	name string
	c    specConn
	json bool // envelopes and payloads in protojson (WebSocket ?codec=json)

	mu     sync.Mutex
	queue  []*iohao.ExternalMessage
	more   chan struct{} // signalled on every arrival and on close
	ended  bool
	msgID  int32
	pushes []*iohao.ExternalMessage // envelopes with msgId 0 seen by call
}

// dial connects to gate g over "tcp", "ws" or "json" (WebSocket with the
// JSON codec).
func (gc *gateCluster) dial(t *testing.T, name string, g int, transport string) *gclient {
	t.Helper()
	url := gc.gates[g].ready[transport]
	if transport == "json" {
		url = gc.gates[g].ready["ws"] + "?codec=json"
	}
	c := &gclient{t: t, name: name, c: dialSpec(t, url), json: transport == "json", more: make(chan struct{}, 1)}
	go c.read()
	return c
}

// read receives envelopes until the connection ends. It reads without a
// deadline; the test's cleanup closes the connection.
func (c *gclient) read() {
	defer func() {
		c.mu.Lock()
		c.ended = true
		c.mu.Unlock()
		c.signal()
	}()
	for {
		b, err := readNoDeadline(c.c)
		if err != nil {
			return
		}
		var m iohao.ExternalMessage
		if c.json {
			err = protojson.Unmarshal(b, &m)
		} else {
			err = proto.Unmarshal(b, &m)
		}
		if err != nil {
			c.t.Errorf("%s: undecodable envelope %q: %v", c.name, b, err)
			return
		}
		c.mu.Lock()
		c.queue = append(c.queue, &m)
		c.mu.Unlock()
		c.signal()
	}
}

func (c *gclient) signal() {
	select {
	case c.more <- struct{}{}:
	default:
	}
}

func readNoDeadline(c specConn) ([]byte, error) {
	switch c := c.(type) {
	case *tcpSpec:
		_ = c.conn.SetReadDeadline(time.Time{})
		var hdr [4]byte
		if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
			return nil, err
		}
		b := make([]byte, binary.BigEndian.Uint32(hdr[:]))
		_, err := io.ReadFull(c.r, b)
		return b, err
	case *wsSpec:
		_ = c.conn.SetReadDeadline(time.Time{})
		_, b, err := c.conn.ReadMessage()
		return b, err
	}
	return nil, fmt.Errorf("unknown connection %T", c)
}

// next returns the next envelope, or nil once the connection has ended.
func (c *gclient) next() *iohao.ExternalMessage {
	c.t.Helper()
	timeout := time.After(ioTimeout)
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			m := c.queue[0]
			c.queue = c.queue[1:]
			c.mu.Unlock()
			return m
		}
		ended := c.ended
		c.mu.Unlock()
		if ended {
			return nil
		}
		select {
		case <-c.more:
		case <-timeout:
			c.t.Fatalf("%s: nothing received for %v", c.name, ioTimeout)
		}
	}
}

// encode marshals a payload in the client's codec.
func (c *gclient) encode(v proto.Message) []byte {
	c.t.Helper()
	if v == nil {
		return nil
	}
	var b []byte
	var err error
	if c.json {
		b, err = protojson.Marshal(v)
	} else {
		b, err = proto.Marshal(v)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

// decode unmarshals a payload in the client's codec.
func (c *gclient) decode(b []byte, into proto.Message) {
	c.t.Helper()
	var err error
	if c.json {
		err = protojson.Unmarshal(b, into)
	} else {
		err = proto.Unmarshal(b, into)
	}
	if err != nil {
		c.t.Fatalf("%s: payload %q: %v", c.name, b, err)
	}
}

// send sends a business request without waiting and returns its msgId.
func (c *gclient) send(cmd, sub int32, req proto.Message) int32 {
	c.t.Helper()
	c.mu.Lock()
	c.msgID++
	id := c.msgID
	c.mu.Unlock()
	m := &iohao.ExternalMessage{CmdCode: 1, CmdMerge: cmd<<16 | sub, MsgId: id, Data: c.encode(req)}
	var err error
	if ws, ok := c.c.(*wsSpec); ok && c.json {
		var b []byte
		if b, err = protojson.Marshal(m); err == nil {
			_ = ws.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
			err = ws.conn.WriteMessage(websocket.TextMessage, b)
		}
	} else {
		var b []byte
		if b, err = proto.Marshal(m); err == nil {
			err = c.c.sendRaw(b)
		}
	}
	if err != nil {
		c.t.Fatalf("%s: send: %v", c.name, err)
	}
	return id
}

// call sends a request and returns its response; envelopes with msgId 0
// that arrive meanwhile are kept in c.pushes.
func (c *gclient) call(cmd, sub int32, req proto.Message) *iohao.ExternalMessage {
	c.t.Helper()
	id := c.send(cmd, sub, req)
	for {
		m := c.next()
		if m == nil {
			c.t.Fatalf("%s: connection closed while waiting for %d-%d", c.name, cmd, sub)
		}
		if m.MsgId == 0 {
			c.pushes = append(c.pushes, m)
			continue
		}
		if m.MsgId != id || m.CmdMerge != cmd<<16|sub {
			c.t.Fatalf("%s: unexpected response %v while waiting for msgId %d", c.name, m, id)
		}
		return m
	}
}

// status calls a route and returns the response status.
func (c *gclient) status(cmd, sub int32) int32 {
	c.t.Helper()
	return c.call(cmd, sub, nil).ResponseStatus
}

// ok calls a route and decodes its successful response.
func gok[T proto.Message](c *gclient, cmd, sub int32, req proto.Message, into T) T {
	c.t.Helper()
	resp := c.call(cmd, sub, req)
	if resp.ResponseStatus != 0 {
		c.t.Fatalf("%s: %d-%d answered %d %q", c.name, cmd, sub, resp.ResponseStatus, resp.GetValidMsg())
	}
	c.decode(resp.Data, into)
	return into
}

func (c *gclient) login(user int64) {
	c.t.Helper()
	if got := gok(c, cmdGate, gateLogin, &iohao.LongValue{Value: user}, &iohao.LongValue{}); got.Value != user {
		c.t.Fatalf("%s: logged in as %d, want %d", c.name, got.Value, user)
	}
}

// push returns the next envelope with msgId 0; a response fails the test.
func (c *gclient) push() *iohao.ExternalMessage {
	c.t.Helper()
	if len(c.pushes) > 0 {
		m := c.pushes[0]
		c.pushes = c.pushes[1:]
		return m
	}
	m := c.next()
	if m == nil {
		c.t.Fatalf("%s: connection closed while waiting for a push", c.name)
	}
	if m.MsgId != 0 {
		c.t.Fatalf("%s: unexpected response %v", c.name, m)
	}
	return m
}

// isEnded reports whether the gate has closed the connection.
func (c *gclient) isEnded() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ended
}

// waitStatus polls route (cmd, sub) on c until it answers want. It polls
// gently: the gate's rate limit counts every request.
func waitStatus(t *testing.T, c *gclient, cmd, sub, want int32) {
	t.Helper()
	waitUntil(t, 20*time.Second, func() error {
		if got := c.status(cmd, sub); got != want {
			return fmt.Errorf("%s: %d-%d answered %d, want %d", c.name, cmd, sub, got, want)
		}
		return nil
	})
}

// TestGateAccess: public routes work before login, login routes after it,
// internal routes never from a client; an operator's override applies to
// live connections; a refused request never reaches the broker.
func TestGateAccess(t *testing.T) {
	gc := startGateCluster(t, 1, "access-1")
	c := gc.dial(t, "c", 0, "tcp")

	t.Run("before login", func(t *testing.T) {
		for _, tc := range []struct {
			sub, want int32
		}{{gateAttrs, 0}, {gateWhoami, codeLoginRequired}, {gateInternal, codeRouteNotFound}, {gateV2, codeRouteNotFound}} {
			if got := c.status(cmdGate, tc.sub); got != tc.want {
				t.Errorf("%d-%d: status %d, want %d", cmdGate, tc.sub, got, tc.want)
			}
		}
	})
	t.Run("after login", func(t *testing.T) {
		c.login(11)
		if got := gok(c, cmdGate, gateWhoami, nil, &iohao.LongValue{}); got.Value != 11 {
			t.Fatalf("whoami %d", got.Value)
		}
		if got := c.status(cmdGate, gateInternal); got != codeRouteNotFound {
			t.Fatalf("internal route: %d", got)
		}
	})
	t.Run("override at run time", func(t *testing.T) {
		public, internal := registry.AccessPublic, registry.AccessInternal
		if err := gc.reg.SetAccess(deadline(t), cmdGate, gateInternal, &public); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, c, cmdGate, gateInternal, 0)
		if err := gc.reg.SetAccess(deadline(t), cmdGate, gateWhoami, &internal); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, c, cmdGate, gateWhoami, codeRouteNotFound)
		for _, sub := range []int32{gateInternal, gateWhoami} {
			if err := gc.reg.SetAccess(deadline(t), cmdGate, sub, nil); err != nil {
				t.Fatal(err)
			}
		}
		waitStatus(t, c, cmdGate, gateInternal, codeRouteNotFound)
		waitStatus(t, c, cmdGate, gateWhoami, 0)
	})
	t.Run("refused without a broker round trip", func(t *testing.T) {
		// The spy sees every request subject. The gate publishes one
		// connection's requests in order, so when the accepted request
		// sent after the refused ones reaches the spy, nothing came before.
		seen := make(chan string, 64)
		var subs []*nats.Subscription
		for _, subject := range []string{"iogo.req.>", "iogo.inst.>"} {
			s, err := gc.nc.Subscribe(subject, func(m *nats.Msg) { seen <- m.Subject })
			if err != nil {
				t.Fatal(err)
			}
			subs = append(subs, s)
		}
		defer func() {
			for _, s := range subs {
				_ = s.Unsubscribe()
			}
		}()
		if err := gc.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		anon := gc.dial(t, "anon", 0, "ws")
		for _, r := range [][2]int32{{99, 9}, {cmdGate, gateWhoami}, {cmdGate, gateInternal}} {
			if st := anon.status(r[0], r[1]); st != codeRouteNotFound && st != codeLoginRequired {
				t.Fatalf("%v: status %d", r, st)
			}
		}
		anon.status(cmdGate, gateAttrs)
		select {
		case s := <-seen:
			if s != fabric.Request(cmdGate, gateAttrs) {
				t.Fatalf("the broker saw %s", s)
			}
		case <-time.After(ioTimeout):
			t.Fatal("the spy saw nothing")
		}
	})
	if c.isEnded() {
		t.Fatal("the connection dropped")
	}
}

// TestGateHotSwap: a logic server stops and a new version with one more
// route starts; the routes follow, and the client's connection, logged in
// throughout, never drops.
func TestGateHotSwap(t *testing.T) {
	gc := startGateCluster(t, 1, "swap-v1")
	c := gc.dial(t, "c", 0, "ws")
	c.login(21)
	served := func() string {
		return gok(c, cmdBasics, 0, &iohao.StringValue{}, &iohao.StringValue{}).Value
	}
	if got := served(); got != "swap-v1" {
		t.Fatalf("served by %q", got)
	}
	if st := c.status(cmdGate, gateV2); st != codeRouteNotFound {
		t.Fatalf("v2 route on v1: %d", st)
	}

	gc.svcs["swap-v1"].stop(t)
	waitStatus(t, c, cmdBasics, 0, codeRouteNotFound)

	t.Setenv("IOGO_TESTSVC_GATE_V2", "1") // inherited by the new process
	gc.startSvc(t, "swap-v2")
	waitStatus(t, c, cmdGate, gateV2, 0)
	if got := served(); got != "swap-v2" {
		t.Fatalf("served by %q", got)
	}
	if got := gok(c, cmdGate, gateV2, nil, &iohao.StringValue{}); got.Value != "v2" {
		t.Fatalf("v2 route: %q", got.Value)
	}
	if got := gok(c, cmdGate, gateWhoami, nil, &iohao.LongValue{}); got.Value != 21 {
		t.Fatalf("still logged in as %d", got.Value)
	}
	if c.isEnded() || len(c.pushes) != 0 {
		t.Fatalf("connection ended %v, notices %v", c.isEnded(), c.pushes)
	}
}

// TestGateDuplicateLogin: 100 connections on two gates log in as one user
// at once. Exactly one session survives; every other one got
// CodeForcedOffline before its connection closed.
func TestGateDuplicateLogin(t *testing.T) {
	gc := startGateCluster(t, 2, "dup-1")
	const n, user = 100, 777
	clients := make([]*gclient, n)
	for i := range clients {
		clients[i] = gc.dial(t, fmt.Sprintf("c%d", i), i%2, []string{"tcp", "ws"}[i/2%2])
		clients[i].status(cmdGate, gateAttrs) // the session exists
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, c := range clients {
		wg.Go(func() {
			<-start
			c.send(cmdGate, gateLogin, &iohao.LongValue{Value: user})
		})
	}
	close(start)
	wg.Wait()
	waitUntil(t, 30*time.Second, func() error {
		open := 0
		for _, c := range clients {
			if !c.isEnded() {
				open++
			}
		}
		if open != 1 {
			return fmt.Errorf("%d connections open, want 1", open)
		}
		return nil
	})
	var survivor *gclient
	for _, c := range clients {
		if !c.isEnded() {
			survivor = c
			continue
		}
		kicked := false
		for m := c.next(); m != nil; m = c.next() {
			if m.MsgId == 0 && m.ResponseStatus == codeForcedOffline {
				kicked = true
			}
		}
		if !kicked {
			t.Errorf("%s closed without the forced-offline notice", c.name)
		}
	}
	// The survivor's login was answered, and it is the user.
	for {
		m := survivor.next()
		if m == nil {
			t.Fatal("survivor closed")
		}
		if m.MsgId != 0 {
			var v iohao.LongValue
			survivor.decode(m.Data, &v)
			if m.ResponseStatus != 0 || v.Value != user {
				t.Fatalf("survivor's login: %v", m)
			}
			break
		}
	}
	if got := gok(survivor, cmdGate, gateWhoami, nil, &iohao.LongValue{}); got.Value != user {
		t.Fatalf("survivor is %d", got.Value)
	}
	r, err := gc.control(t, fabric.UserControl(user), fabric.Control{Op: fabric.OpOnline})
	if err != nil || !r.Online {
		t.Fatalf("online: %+v, %v", r, err)
	}
	b, err := gc.reg.Binding(deadline(t), user)
	if err != nil || b.Gate != r.Gate || b.Session != r.Session {
		t.Fatalf("binding %+v, online %+v, %v", b, r, err)
	}
}

// TestGateBindSwitch: a connection logged in as A logs in as B; pushes to
// A no longer reach it.
func TestGateBindSwitch(t *testing.T) {
	gc := startGateCluster(t, 1, "switch-1")
	c := gc.dial(t, "c", 0, "tcp")
	sender := gc.dial(t, "sender", 0, "ws")
	sender.login(30)
	const a, b = 31, 32
	c.login(a)
	c.login(b)
	if got := gok(c, cmdGate, gateWhoami, nil, &iohao.LongValue{}); got.Value != b {
		t.Fatalf("whoami %d", got.Value)
	}
	// One logic server sends both pushes, in order: had A's reached c, it
	// would arrive first.
	gok(sender, cmdGate, gatePushTo, &iohao.StringValueList{Values: []string{"to A", strconv.Itoa(a)}}, &iohao.BoolValue{})
	gok(sender, cmdGate, gatePushTo, &iohao.StringValueList{Values: []string{"to B", strconv.Itoa(b)}}, &iohao.BoolValue{})
	m := c.push()
	var e demo.EchoMsg
	c.decode(m.Data, &e)
	if m.CmdMerge != cmdGate<<16|gatePush || e.Text != "to B" {
		t.Fatalf("got push %v %q, want only B's", m, e.Text)
	}
	if _, err := gc.control(t, fabric.UserControl(a), fabric.Control{Op: fabric.OpOnline}); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("A online: %v", err)
	}
}

// TestGateBinding: two instances of one service; unbound requests spread,
// a bound user's requests all reach the bound instance, also after
// reconnecting through another gate, and fail with -1008 once it stops.
func TestGateBinding(t *testing.T) {
	gc := startGateCluster(t, 2, "bind-a", "bind-b")
	c := gc.dial(t, "c", 0, "tcp")
	c.login(41)
	served := func(c *gclient, n int) map[string]int {
		seen := map[string]int{}
		for range n {
			resp := c.call(cmdBasics, 0, &iohao.StringValue{})
			if resp.ResponseStatus != 0 {
				seen[strconv.Itoa(int(resp.ResponseStatus))]++
				continue
			}
			var v iohao.StringValue
			c.decode(resp.Data, &v)
			seen[v.Value]++
		}
		return seen
	}
	if seen := served(c, 40); seen["bind-a"] == 0 || seen["bind-b"] == 0 {
		t.Fatalf("unbound requests served by %v", seen)
	}
	bound := gok(c, cmdGate, gateBindHere, nil, &iohao.StringValue{}).Value
	if seen := served(c, 20); seen[bound] != 20 {
		t.Fatalf("bound to %s, served by %v", bound, seen)
	}
	c.c.close()
	c = gc.dial(t, "c2", 1, "ws")
	c.login(41)
	if seen := served(c, 20); seen[bound] != 20 {
		t.Fatalf("after reconnecting: bound to %s, served by %v", bound, seen)
	}
	gc.svcs[bound].stop(t)
	waitStatus(t, c, cmdBasics, 0, codeLogicGone)
}

// TestGateAttributes: attributes set by a logic server, or by a control
// request, travel with the session's later requests.
func TestGateAttributes(t *testing.T) {
	gc := startGateCluster(t, 1, "attrs-1")
	c := gc.dial(t, "c", 0, "ws")
	attrs := func() string { return gok(c, cmdGate, gateAttrs, nil, &iohao.StringValue{}).Value }
	set := func(kv string) {
		t.Helper()
		if !gok(c, cmdGate, gateSetAttr, &iohao.StringValue{Value: kv}, &iohao.BoolValue{}).Value {
			t.Fatal("set-attr refused")
		}
	}
	if got := attrs(); got != "ip=127.0.0.1" { // fabric.AttrIP, set by the gate
		t.Fatalf("fresh session has %q", got)
	}
	set("room=7")
	set("team=red")
	if got := attrs(); got != "ip=127.0.0.1&room=7&team=red" {
		t.Fatalf("before login: %q", got)
	}
	c.login(51)
	if _, err := gc.control(t, fabric.UserControl(51), fabric.Control{
		Op: fabric.OpSetAttrs, Attrs: map[string]string{"team": "", "lang": "fr"},
	}); err != nil {
		t.Fatal(err)
	}
	if got := attrs(); got != "ip=127.0.0.1&lang=fr&room=7" {
		t.Fatalf("after the control request: %q", got)
	}
	r, err := gc.control(t, fabric.UserControl(51), fabric.Control{Op: fabric.OpGetAttrs})
	if err != nil || !reflect.DeepEqual(r.Attrs, map[string]string{"ip": "127.0.0.1", "lang": "fr", "room": "7"}) {
		t.Fatalf("get-attrs: %+v, %v", r, err)
	}
	big := strings.Repeat("x", 5000)
	if resp := c.call(cmdGate, gateSetAttr, &iohao.StringValue{Value: "big=" + big}); resp.ResponseStatus == 0 {
		t.Fatal("an oversize attribute was accepted")
	}
	if got := attrs(); got != "ip=127.0.0.1&lang=fr&room=7" {
		t.Fatalf("after the refused change: %q", got)
	}
}

// TestGateJSONPush: a typed push reaches a JSON session as protojson,
// transcoded with the descriptors the logic server published, and a
// protobuf session as protobuf.
func TestGateJSONPush(t *testing.T) {
	gc := startGateCluster(t, 1, "json-1")
	j := gc.dial(t, "json", 0, "json")
	p := gc.dial(t, "proto", 0, "tcp")
	j.login(61)
	p.login(62)
	gok(p, cmdGate, gatePushTo, &iohao.StringValueList{Values: []string{"hello", "61", "62"}}, &iohao.BoolValue{})
	gok(j, cmdGate, gatePushSelf, &iohao.StringValue{Value: "self"}, &iohao.BoolValue{})
	for _, want := range []string{"hello", "self"} {
		m := j.push()
		var x any
		if err := json.Unmarshal(m.Data, &x); err != nil || !reflect.DeepEqual(x, map[string]any{"text": want}) {
			t.Fatalf("json session got %q (%v), want {\"text\":%q}", m.Data, err, want)
		}
	}
	m := p.push()
	var e demo.EchoMsg
	if err := proto.Unmarshal(m.Data, &e); err != nil || e.Text != "hello" {
		t.Fatalf("protobuf session got %q: %v", m.Data, err)
	}
}
