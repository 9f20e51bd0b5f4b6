package tests

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	demo "github.com/iogo-dev/iogo/proto/demo"
	"github.com/iogo-dev/iogo/proto/iohao"
	"google.golang.org/protobuf/proto"
)

// The communication models, each driven across real processes: a broker,
// one or two external servers (gates) and testsvc instances, with
// spec-level clients. Each test asserts what arrives where and that
// nothing else does. testsvc serves the routes of cmd 22
// (tests/testsvc/models.go) and 20-0, which names the serving instance.

// Routes of testsvc used here.
const (
	cmdModels     = 22
	subLogin      = 0
	subPushTo     = 1
	subPushAll    = 2
	subPushSelf   = 3
	subVoid       = 4
	subEcho       = 5
	subOnline     = 6
	subKick       = 7
	subSetAttr    = 8
	subAttr       = 9
	subSetUser    = 10
	subUserAttrs  = 11
	subBindHere   = 12
	subRoomAppend = 14
	subRoomLog    = 15
	subPush       = 100

	codeForcedOffline = -1007
	codeLogicGone     = -1008
)

// modelCluster is a running deployment for the model tests.
type modelCluster struct {
	broker string           // NATS URL
	gates  []*proc          // external servers, ws and tcp addresses in ready
	logic  map[string]*proc // testsvc instances by instance ID
}

// startModels runs a broker, the testsvc instances with the given IDs and
// the given number of gates, as separate processes on random ports.
func startModels(t *testing.T, gates int, instances ...string) *modelCluster {
	t.Helper()
	b := startProc(t, "broker", "broker", "-host", "127.0.0.1", "-port", "-1", "-store", t.TempDir())
	mc := &modelCluster{broker: b.ready["nats"], logic: map[string]*proc{}}
	for _, id := range instances {
		mc.logic[id] = startProc(t, "testsvc", "logic", "-brokers", mc.broker, "-id", id)
	}
	for i := range gates {
		mc.gates = append(mc.gates, startProc(t, "external", "external", "-brokers", mc.broker,
			"-id", "gate"+strconv.Itoa(i), "-ws", "127.0.0.1:0", "-tcp", "127.0.0.1:0"))
	}
	return mc
}

// player is one client connection speaking the wire spec.
type player struct {
	t      *testing.T
	name   string
	c      specConn
	msgID  int32
	pushes []*iohao.ExternalMessage // envelopes with msgId 0, in arrival order
}

// dial connects a player to gate g over "tcp" or "ws".
func (mc *modelCluster) dial(t *testing.T, name string, g int, transport string) *player {
	t.Helper()
	return &player{t: t, name: name, c: dialSpec(t, mc.gates[g].ready[transport])}
}

// call sends a request and returns its response. Envelopes with msgId 0
// (pushes, kicks) that arrive meanwhile are kept for pushesUntil; a
// response to any other request fails the test.
func (p *player) call(cmd, sub int32, req proto.Message) *iohao.ExternalMessage {
	p.t.Helper()
	p.msgID++
	id := p.msgID
	p.send(cmd, sub, id, req)
	for {
		m := p.recv()
		if m.MsgId == 0 {
			p.pushes = append(p.pushes, m)
			continue
		}
		if m.MsgId != id || m.CmdMerge != cmd<<16|sub {
			p.t.Fatalf("%s: unexpected response %v while waiting for msgId %d", p.name, m, id)
		}
		return m
	}
}

func (p *player) send(cmd, sub, msgID int32, req proto.Message) {
	p.t.Helper()
	m := &iohao.ExternalMessage{CmdCode: 1, CmdMerge: cmd<<16 | sub, MsgId: msgID}
	if req != nil {
		data, err := proto.Marshal(req)
		if err != nil {
			p.t.Fatal(err)
		}
		m.Data = data
	}
	send(p.t, p.c, m)
}

func (p *player) recv() *iohao.ExternalMessage {
	p.t.Helper()
	b, err := p.c.recvRaw()
	if err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
	var m iohao.ExternalMessage
	if err := proto.Unmarshal(b, &m); err != nil {
		p.t.Fatalf("%s: undecodable envelope: %v", p.name, err)
	}
	return &m
}

// ok calls a route and decodes its successful response into into.
func ok[T proto.Message](p *player, cmd, sub int32, req proto.Message, into T) T {
	p.t.Helper()
	resp := p.call(cmd, sub, req)
	if resp.ResponseStatus != 0 {
		p.t.Fatalf("%s: %d-%d answered %d %q", p.name, cmd, sub, resp.ResponseStatus, resp.GetValidMsg())
	}
	if err := proto.Unmarshal(resp.Data, into); err != nil {
		p.t.Fatal(err)
	}
	return into
}

func (p *player) login(user int64) {
	p.t.Helper()
	if got := ok(p, cmdModels, subLogin, &iohao.LongValue{Value: user}, &iohao.LongValue{}); got.Value != user {
		p.t.Fatalf("%s: logged in as %d, want %d", p.name, got.Value, user)
	}
}

// pushesUntil returns the texts of the test pushes that reached p before
// the push whose text is end. Pushes from one logic server reach a gate in
// the order it sent them, so a broadcast of end sent after the pushes under
// test closes the set: anything else before it is a push that should not
// have arrived. A response envelope fails the test.
func (p *player) pushesUntil(end string) []string {
	p.t.Helper()
	var texts []string
	for {
		var m *iohao.ExternalMessage
		if len(p.pushes) > 0 {
			m, p.pushes = p.pushes[0], p.pushes[1:]
		} else {
			m = p.recv()
		}
		if m.MsgId != 0 {
			p.t.Fatalf("%s: unexpected response %v", p.name, m)
		}
		if m.CmdCode != 1 || m.CmdMerge != cmdModels<<16|subPush || m.ResponseStatus != 0 {
			p.t.Fatalf("%s: unexpected envelope %v", p.name, m)
		}
		var e demo.EchoMsg
		if err := proto.Unmarshal(m.Data, &e); err != nil {
			p.t.Fatal(err)
		}
		if e.Text == end {
			return texts
		}
		texts = append(texts, e.Text)
	}
}

// TestModelPush: push to one user, to a list, to the caller and to all,
// over two gates; each push reaches exactly its users.
func TestModelPush(t *testing.T) {
	mc := startModels(t, 2, "push-1")
	a := mc.dial(t, "a", 0, "tcp")
	b := mc.dial(t, "b", 1, "ws")
	c := mc.dial(t, "c", 1, "tcp")
	anon := mc.dial(t, "anon", 0, "ws") // never logs in
	a.login(1)
	b.login(2)
	c.login(3)
	players := []*player{a, b, c, anon}
	end := 0
	// check broadcasts a sentinel and compares what each player got before it.
	check := func(want map[*player][]string) {
		t.Helper()
		end++
		sentinel := "end" + strconv.Itoa(end)
		ok(a, cmdModels, subPushAll, &iohao.StringValue{Value: sentinel}, &iohao.BoolValue{})
		for _, p := range players {
			if got := p.pushesUntil(sentinel); !slices.Equal(got, want[p]) {
				t.Errorf("%s got pushes %q, want %q", p.name, got, want[p])
			}
		}
	}

	t.Run("one user", func(t *testing.T) {
		ok(a, cmdModels, subPushTo, &iohao.LongValueList{Values: []int64{2}}, &iohao.BoolValue{})
		check(map[*player][]string{b: {"to"}})
	})
	t.Run("list", func(t *testing.T) {
		ok(a, cmdModels, subPushTo, &iohao.LongValueList{Values: []int64{2, 3, 99}}, &iohao.BoolValue{})
		check(map[*player][]string{b: {"to"}, c: {"to"}})
	})
	t.Run("self", func(t *testing.T) {
		ok(c, cmdModels, subPushSelf, &iohao.StringValue{Value: "me"}, &iohao.BoolValue{})
		check(map[*player][]string{c: {"me"}})
	})
	t.Run("all", func(t *testing.T) {
		ok(b, cmdModels, subPushAll, &iohao.StringValue{Value: "hi all"}, &iohao.BoolValue{})
		all := []string{"hi all"}
		check(map[*player][]string{a: all, b: all, c: all, anon: all})
	})
}

// TestModelVoid: a request/void route sends no response envelope; its
// errors are still answered.
func TestModelVoid(t *testing.T) {
	mc := startModels(t, 1, "void-1")
	a := mc.dial(t, "a", 0, "tcp")
	a.login(1)
	a.msgID++
	voidID := a.msgID
	a.send(cmdModels, subVoid, voidID, &iohao.StringValue{Value: "x"})
	// The next response is the echo's: call fails on any other.
	if got := ok(a, cmdModels, subEcho, &iohao.StringValue{Value: "after"}, &iohao.StringValue{}); got.Value != "after" {
		t.Fatalf("echo %q", got.Value)
	}
	ok(a, cmdModels, subPushAll, &iohao.StringValue{Value: "end"}, &iohao.BoolValue{})
	if got := a.pushesUntil("end"); !slices.Equal(got, []string{"void:x"}) {
		t.Fatalf("pushes %q: the void handler must have run once", got)
	}
	resp := a.call(cmdModels, subVoid, &iohao.StringValue{Value: "fail"})
	if resp.ResponseStatus != 4001 || resp.GetValidMsg() != "void failed" {
		t.Fatalf("failing void route answered %d %q", resp.ResponseStatus, resp.GetValidMsg())
	}
}

// TestModelRegion: the external region — online checks, attributes set
// from logic and seen on later requests, a kick, and login replacing a
// previous session — across two gates.
func TestModelRegion(t *testing.T) {
	mc := startModels(t, 2, "region-1")
	a := mc.dial(t, "a", 0, "tcp")
	b := mc.dial(t, "b", 1, "ws")
	a.login(1)
	b.login(2)
	online := func(user int64) bool {
		return ok(a, cmdModels, subOnline, &iohao.LongValue{Value: user}, &iohao.BoolValue{}).Value
	}
	attr := func(p *player, key string) string {
		return ok(p, cmdModels, subAttr, &iohao.StringValue{Value: key}, &iohao.StringValue{}).Value
	}

	t.Run("online", func(t *testing.T) {
		if !online(2) || !online(1) {
			t.Fatal("a logged-in user is offline")
		}
		if online(99) {
			t.Fatal("user 99 is online")
		}
	})
	t.Run("attributes", func(t *testing.T) {
		ok(b, cmdModels, subSetAttr, &iohao.StringValue{Value: "room=7"}, &iohao.BoolValue{})
		ok(a, cmdModels, subSetUser, &iohao.StringValueList{Values: []string{"2", "team=red"}}, &iohao.BoolValue{})
		if got := attr(b, "room"); got != "7" {
			t.Fatalf("room = %q", got)
		}
		if got := attr(b, "team"); got != "red" {
			t.Fatalf("team = %q", got)
		}
		if got := attr(a, "room"); got != "" {
			t.Fatalf("a sees b's attribute: %q", got)
		}
		got := ok(a, cmdModels, subUserAttrs, &iohao.LongValue{Value: 2}, &iohao.StringValueList{}).Values
		if !slices.Equal(got, []string{"ip=127.0.0.1", "room=7", "team=red"}) {
			t.Fatalf("user attrs %q", got)
		}
		if resp := a.call(cmdModels, subUserAttrs, &iohao.LongValue{Value: 99}); resp.ResponseStatus == 0 {
			t.Fatal("attributes of an offline user")
		}
	})
	t.Run("kick", func(t *testing.T) {
		ok(a, cmdModels, subKick, &iohao.LongValue{Value: 2}, &iohao.BoolValue{})
		expectKicked(t, b, "kicked by test")
		waitUntil(t, 10*time.Second, func() error {
			if online(2) {
				return fmt.Errorf("user 2 still online after the kick")
			}
			return nil
		})
	})
	t.Run("login elsewhere", func(t *testing.T) {
		a2 := mc.dial(t, "a2", 1, "tcp")
		a2.login(1) // on the other gate: the first session of user 1 is kicked
		expectKicked(t, a, "")
		if !ok(a2, cmdModels, subOnline, &iohao.LongValue{Value: 1}, &iohao.BoolValue{}).Value {
			t.Fatal("user 1 offline after logging in again")
		}
	})
}

// expectKicked reads p's connection: the next envelope must be the
// forced-offline notice (with text msg, if not ""), then the connection
// must close.
func expectKicked(t *testing.T, p *player, msg string) {
	t.Helper()
	var m *iohao.ExternalMessage
	if len(p.pushes) > 0 {
		m = p.pushes[0]
	} else {
		m = p.recv()
	}
	if m.ResponseStatus != codeForcedOffline || m.MsgId != 0 || (msg != "" && m.GetValidMsg() != msg) {
		t.Fatalf("%s: got %v, want the forced-offline notice %q", p.name, m, msg)
	}
	if b, err := p.c.recvRaw(); err == nil {
		t.Fatalf("%s: connection still open after the kick; got %x", p.name, b)
	}
}

// TestModelBindLogic: two instances of one service; unbound requests
// spread over both, a bound user's requests all reach the bound one, also
// after reconnecting through another gate, and fail with -1008 once it
// stops.
func TestModelBindLogic(t *testing.T) {
	mc := startModels(t, 2, "bind-a", "bind-b")
	a := mc.dial(t, "a", 0, "tcp")
	a.login(1)
	served := func(p *player) string {
		return ok(p, 20, 0, &iohao.StringValue{}, &iohao.StringValue{}).Value
	}

	seen := map[string]int{}
	for range 40 {
		seen[served(a)]++
	}
	if len(seen) != 2 || seen["bind-a"] == 0 || seen["bind-b"] == 0 {
		t.Fatalf("unbound requests served by %v, want both instances", seen)
	}

	bound := ok(a, cmdModels, subBindHere, &iohao.StringValue{}, &iohao.StringValue{}).Value
	if mc.logic[bound] == nil {
		t.Fatalf("bound to unknown instance %q", bound)
	}
	allOn := func(p *player) {
		t.Helper()
		for i := range 30 {
			if got := served(p); got != bound {
				t.Fatalf("%s: request %d served by %s, bound to %s", p.name, i, got, bound)
			}
		}
	}
	allOn(a)
	// Another user is not bound.
	other := mc.dial(t, "other", 0, "ws")
	other.login(2)
	seen = map[string]int{}
	for range 40 {
		seen[served(other)]++
	}
	if len(seen) != 2 {
		t.Fatalf("unbound user served by %v only", seen)
	}

	// Reconnect through the other gate: the binding holds.
	a.c.close()
	a2 := mc.dial(t, "a2", 1, "ws")
	a2.login(1)
	allOn(a2)

	// The bound instance stops: the user's requests to its service fail
	// with -1008, while other users are served by the survivor.
	mc.logic[bound].stop(t)
	waitUntil(t, 20*time.Second, func() error {
		resp := a2.call(20, 0, &iohao.StringValue{})
		if resp.ResponseStatus != codeLogicGone {
			return fmt.Errorf("status %d, want %d", resp.ResponseStatus, codeLogicGone)
		}
		return nil
	})
	for range 5 {
		if got := served(other); got == bound {
			t.Fatalf("served by the stopped instance %s", got)
		}
	}
}

// TestModelKeyed: room functions submitted by several users' requests run
// one at a time in each user's submission order, and a read submitted
// after them sees them all.
func TestModelKeyed(t *testing.T) {
	mc := startModels(t, 1, "keyed-1")
	const users, per = 4, 25
	players := make([]*player, users)
	for i := range players {
		players[i] = mc.dial(t, "p"+strconv.Itoa(i), 0, []string{"tcp", "ws"}[i%2])
		players[i].login(int64(i + 1))
	}
	var wg sync.WaitGroup
	for i, p := range players {
		wg.Go(func() {
			for n := range per {
				resp := p.call(cmdModels, subRoomAppend, &iohao.StringValueList{Values: []string{"room", fmt.Sprintf("%d:%d", i, n)}})
				if resp.ResponseStatus != 0 {
					t.Errorf("%s: append %d: %d", p.name, n, resp.ResponseStatus)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	log := ok(players[0], cmdModels, subRoomLog, &iohao.StringValue{Value: "room"}, &iohao.StringValueList{}).Values
	if len(log) != users*per {
		t.Fatalf("room log has %d entries, want %d", len(log), users*per)
	}
	next := make([]int, users)
	for _, e := range log {
		us, ns, _ := strings.Cut(e, ":")
		u, _ := strconv.Atoi(us)
		n, _ := strconv.Atoi(ns)
		if n != next[u] {
			t.Fatalf("user %d: entry %d ran where %d was due; log %q", u, n, next[u], log)
		}
		next[u]++
	}
	if other := ok(players[1], cmdModels, subRoomLog, &iohao.StringValue{Value: "elsewhere"}, &iohao.StringValueList{}).Values; len(other) != 0 {
		t.Fatalf("another room has %q", other)
	}
}

// waitUntil polls check until it returns nil or total elapses.
func waitUntil(t *testing.T, total time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	step := 5 * time.Millisecond
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true after %v: %v", total, err)
		}
		time.Sleep(step) // polling pace, not a synchronisation sleep
		step = min(2*step, 100*time.Millisecond)
	}
}
