package logic_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/registry"
	"github.com/iogo-dev/iogo/pkg/route"
	"github.com/iogo-dev/iogo/pkg/wire"
	demopb "github.com/iogo-dev/iogo/proto/demo"
	"github.com/iogo-dev/iogo/proto/iohao"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
)

// waitFor polls check until it returns nil or total elapses.
func waitFor(t *testing.T, total time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	step := time.Millisecond
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true after %v: %v", total, err)
		}
		time.Sleep(step) // polling pace, not a synchronisation sleep
		step = min(2*step, 50*time.Millisecond)
	}
}

func okReply(fabric.Control) fabric.ControlReply { return fabric.ControlReply{OK: true} }

// fakeControl answers control requests on subject the way a gate does,
// with reply, and returns the requests it got.
func fakeControl(t *testing.T, b *broker.Broker, subject string, reply func(fabric.Control) fabric.ControlReply) chan fabric.Control {
	t.Helper()
	nc := connect(t, b)
	got := make(chan fabric.Control, 100)
	_, err := nc.Subscribe(subject, func(m *nats.Msg) {
		var c fabric.Control
		if err := json.Unmarshal(m.Data, &c); err != nil {
			t.Errorf("bad control request %q: %v", m.Data, err)
			return
		}
		got <- c
		data, _ := json.Marshal(reply(c))
		_ = m.Respond(data)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return got
}

func openRegistry(t *testing.T, b *broker.Broker) *registry.Registry {
	t.Helper()
	js, err := jetstream.New(connect(t, b))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Open(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func findInstance(ctx context.Context, reg *registry.Registry, id string) (*registry.Instance, error) {
	ins, err := reg.Instances(ctx)
	if err != nil {
		return nil, err
	}
	for i := range ins {
		if ins[i].ID == id {
			return &ins[i], nil
		}
	}
	return nil, nil
}

// ask sends one request the way gate g1 does and returns the reply.
func ask[Req, Resp any](t *testing.T, nc *nats.Conn, subject string, m fabric.Meta, req Req) (Resp, fabric.Reply) {
	t.Helper()
	in, _ := wire.ValueOf[Req]()
	out, _ := wire.ValueOf[Resp]()
	data, err := in.Append(nil, wire.Protobuf{}, req)
	if err != nil {
		t.Fatal(err)
	}
	if m.Gate == "" {
		m.Gate = "g1"
	}
	if subject == "" {
		subject = fabric.Request(m.Cmd, m.Sub)
	}
	var zero Resp
	msg, err := nc.RequestMsg(&nats.Msg{Subject: subject, Header: m.Header(), Data: data}, 10*time.Second)
	if errors.Is(err, nats.ErrNoResponders) {
		return zero, fabric.Reply{Status: errs.CodeRouteNotFound}
	}
	if err != nil {
		t.Fatal(err)
	}
	rep, err := fabric.ParseReply(msg.Header)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != 0 {
		return zero, rep
	}
	v, err := out.Unmarshal(msg.Data, wire.Protobuf{})
	if err != nil {
		t.Fatal(err)
	}
	return v, rep
}

func TestHeartbeatInterval(t *testing.T) {
	if logic.HeartbeatInterval != broker.ServicesTTL/3 {
		t.Fatalf("HeartbeatInterval %v, want broker.ServicesTTL/3 = %v", logic.HeartbeatInterval, broker.ServicesTTL/3)
	}
}

// TestRegistry: Start publishes the routes with their declared access and
// types and registers the instance with its pushes and descriptors;
// Shutdown deregisters before it drains the requests in flight.
func TestRegistry(t *testing.T) {
	b := startNATS(t)
	release := make(chan struct{})
	running := make(chan struct{})
	r := route.NewRouter()
	g := r.Group(5)
	route.Handle(g, 0, func(c *logic.Ctx, m *demopb.HelloReq) (*demopb.HelloResp, error) { return nil, nil },
		route.Public(), route.Doc("hello"))
	route.Handle(g, 1, func(c *logic.Ctx, n int64) (string, error) {
		close(running)
		<-release
		return "", nil
	})
	route.HandleVoid(g, 2, func(c *logic.Ctx, _ []*demopb.EchoMsg) error { return nil }, route.Internal())
	route.DeclarePush[*iohao.IntValueList](g, 9, route.Doc("numbers"))
	srv, err := logic.New(logic.Config{Service: "reg", Router: r, Brokers: []string{b.ClientURL()}, Version: "v1.2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	if srv.Client() == nil {
		t.Fatal("no Client after Start")
	}
	reg := openRegistry(t, b)
	ctx := context.Background()

	routes, err := reg.Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(routes, func(a, b registry.Route) int { return int(a.Merge() - b.Merge()) })
	want := []registry.Route{
		{Cmd: 5, Sub: 0, Service: "reg", Access: registry.AccessPublic, Req: "iogo.demo.HelloReq", Resp: "iogo.demo.HelloResp", Doc: "hello"},
		{Cmd: 5, Sub: 1, Service: "reg", Access: registry.AccessLogin, Req: "iohao.LongValue", Resp: "iohao.StringValue"},
		{Cmd: 5, Sub: 2, Service: "reg", Access: registry.AccessInternal, Req: "iohao.ByteValueList<iogo.demo.EchoMsg>", Void: true},
	}
	if !reflect.DeepEqual(routes, want) {
		t.Fatalf("routes\n%+v\nwant\n%+v", routes, want)
	}

	in, err := findInstance(ctx, reg, srv.InstanceID())
	if err != nil || in == nil {
		t.Fatalf("instance not registered: %v", err)
	}
	if in.Service != "reg" || in.Version != "v1.2" || in.Started.IsZero() ||
		!reflect.DeepEqual(in.Routes, []int32{5 << 16, 5<<16 | 1, 5<<16 | 2}) {
		t.Fatalf("instance %+v", in)
	}
	if !reflect.DeepEqual(in.Pushes, []registry.Push{{Cmd: 5, Sub: 9, Type: "iohao.IntValueList", Doc: "numbers"}}) {
		t.Fatalf("pushes %+v", in.Pushes)
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(in.Descriptors, &set); err != nil {
		t.Fatal(err)
	}
	types := map[string]bool{}
	files := map[string]bool{}
	for _, f := range set.File {
		for _, dep := range f.Dependency {
			if !files[dep] {
				t.Fatalf("%s comes before its import %s", f.GetName(), dep)
			}
		}
		files[f.GetName()] = true
		for _, m := range f.MessageType {
			types[f.GetPackage()+"."+m.GetName()] = true
		}
	}
	for _, n := range []string{"iogo.demo.HelloReq", "iogo.demo.HelloResp", "iogo.demo.EchoMsg", "iohao.LongValue",
		"iohao.StringValue", "iohao.ByteValueList", "iohao.IntValueList"} {
		if !types[n] {
			t.Errorf("descriptors lack %s; have %v", n, types)
		}
	}

	// Shutdown with a request in flight: the entry goes first, the request
	// still completes.
	gw := connect(t, b)
	replied := make(chan fabric.Reply, 1)
	go func() {
		_, rep := ask[int64, string](t, gw, "", fabric.Meta{Cmd: 5, Sub: 1, UserID: 1}, 1)
		replied <- rep
	}()
	<-running
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(context.Background()) }()
	waitFor(t, 5*time.Second, func() error {
		in, err := findInstance(ctx, reg, srv.InstanceID())
		if err != nil {
			return err
		}
		if in != nil {
			return errors.New("instance still registered")
		}
		return nil
	})
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) before the request in flight ended", err)
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if rep := <-replied; rep.Status != 0 {
		t.Fatalf("in-flight request: %+v", rep)
	}
}

// TestInstanceSubjects: a request on an instance's own subject reaches that
// instance only, while the service subject spreads over both.
func TestInstanceSubjects(t *testing.T) {
	b := startNATS(t)
	r := route.NewRouter()
	route.Handle(r.Group(6), 0, func(c *logic.Ctx, _ string) (string, error) { return c.InstanceID(), nil })
	a := startLogic(t, b, r, func(c *logic.Config) { c.InstanceID = "inst-a"; c.Service = "svc" })
	bb := startLogic(t, b, r, func(c *logic.Config) { c.InstanceID = "inst-b"; c.Service = "svc" })
	gw := connect(t, b)
	for _, srv := range []*logic.Server{a, bb} {
		for i := range 20 {
			got, rep := ask[string, string](t, gw, fabric.Instance(srv.InstanceID(), 6, 0), fabric.Meta{Cmd: 6, UserID: int64(i + 1)}, "")
			if rep.Status != 0 || got != srv.InstanceID() {
				t.Fatalf("request to %s served by %q (%+v)", srv.InstanceID(), got, rep)
			}
		}
	}
	seen := map[string]bool{}
	waitFor(t, 10*time.Second, func() error {
		got, _ := ask[string, string](t, gw, "", fabric.Meta{Cmd: 6, UserID: 1}, "")
		seen[got] = true
		if len(seen) < 2 {
			return fmt.Errorf("only %v served the service subject", seen)
		}
		return nil
	})
	// A stopped instance's subject has no responder.
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, rep := ask[string, string](t, gw, fabric.Instance("inst-a", 6, 0), fabric.Meta{Cmd: 6, UserID: 1}, ""); rep.Status != errs.CodeRouteNotFound {
		t.Fatalf("stopped instance answered: %+v", rep)
	}
}

// TestSessionControl: Bind and SetAttr are synchronous control requests to
// the session's gate; attributes are read from the request.
func TestSessionControl(t *testing.T) {
	b := startNATS(t)
	var refuse atomic.Bool
	controls := fakeControl(t, b, fabric.GateControl("g1"), func(c fabric.Control) fabric.ControlReply {
		if refuse.Load() {
			return fabric.ControlReply{Error: "user claimed elsewhere"}
		}
		return fabric.ControlReply{OK: true}
	})
	r := route.NewRouter()
	g := r.Group(7)
	route.Handle(g, 0, func(c *logic.Ctx, user int64) (int64, error) {
		if err := c.Bind(user); err != nil {
			return 0, err
		}
		return c.UserID(), nil
	})
	route.Handle(g, 1, func(c *logic.Ctx, kv []string) ([]string, error) {
		before := c.Attr(kv[0])
		if err := c.SetAttr(kv[0], kv[1]); err != nil {
			return nil, err
		}
		return []string{before, c.Attr(kv[0]), c.Attrs().Encode()}, nil
	})
	startLogic(t, b, r)
	gw := connect(t, b)

	got, rep := ask[int64, int64](t, gw, "", fabric.Meta{Cmd: 7, Sub: 0, Session: 42}, 1001)
	if rep.Status != 0 || got != 1001 {
		t.Fatalf("bind: %d %+v", got, rep)
	}
	if c := <-controls; !reflect.DeepEqual(c, fabric.Control{Op: fabric.OpBind, Session: 42, User: 1001}) {
		t.Fatalf("control %+v", c)
	}
	refuse.Store(true)
	if _, rep := ask[int64, int64](t, gw, "", fabric.Meta{Cmd: 7, Sub: 0, Session: 43}, 1002); rep.Status != errs.CodeSystem {
		t.Fatalf("refused bind answered %+v", rep)
	}
	<-controls
	refuse.Store(false)
	// A gate that is gone: no responder, an error.
	if _, rep := ask[int64, int64](t, gw, "", fabric.Meta{Cmd: 7, Sub: 0, Session: 44, Gate: "gone"}, 1003); rep.Status != errs.CodeSystem {
		t.Fatalf("bind on a gone gate answered %+v", rep)
	}

	attrs := url.Values{"room": {"r 1"}, "team": {"red"}}.Encode()
	res, rep := ask[[]string, []string](t, gw, "", fabric.Meta{Cmd: 7, Sub: 1, UserID: 5, Session: 9, Attrs: attrs}, []string{"team", "blue"})
	if rep.Status != 0 || !reflect.DeepEqual(res, []string{"red", "blue", "room=r+1&team=blue"}) {
		t.Fatalf("attrs: %q %+v", res, rep)
	}
	want := fabric.Control{Op: fabric.OpSetAttrs, Session: 9, User: 5, Attrs: map[string]string{"team": "blue"}}
	if c := <-controls; !reflect.DeepEqual(c, want) {
		t.Fatalf("control %+v, want %+v", c, want)
	}
	if len(controls) != 0 {
		t.Fatalf("unexpected control %+v", <-controls)
	}
}

// pushSink collects the pushes published on some subjects.
type pushSink struct {
	t  *testing.T
	ch map[string]chan *nats.Msg
}

func newPushSink(t *testing.T, b *broker.Broker, subjects ...string) *pushSink {
	nc := connect(t, b)
	s := &pushSink{t: t, ch: map[string]chan *nats.Msg{}}
	for _, subj := range subjects {
		ch := make(chan *nats.Msg, 100)
		if _, err := nc.ChanSubscribe(subj, ch); err != nil {
			t.Fatal(err)
		}
		s.ch[subj] = ch
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return s
}

// until returns the pushes on subject before the sentinel push (text
// "end"), which the test sends after the pushes under test on the same
// connection, so that it arrives after them.
func (s *pushSink) until(subject string) []*demopb.EchoMsg {
	s.t.Helper()
	var out []*demopb.EchoMsg
	for {
		select {
		case m := <-s.ch[subject]:
			if m.Header.Get(fabric.HeaderRoute) != strconv.Itoa(8<<16|100) || m.Header.Get(fabric.HeaderType) != "iogo.demo.EchoMsg" {
				s.t.Fatalf("push headers %v", m.Header)
			}
			var e demopb.EchoMsg
			if err := proto.Unmarshal(m.Data, &e); err != nil {
				s.t.Fatal(err)
			}
			if e.Text == "end" {
				return out
			}
			out = append(out, &e)
		case <-time.After(10 * time.Second):
			s.t.Fatalf("no sentinel on %s", subject)
		}
	}
}

// TestPush: pushes reach exactly the subjects of their users, with the
// route and message type in headers.
func TestPush(t *testing.T) {
	b := startNATS(t)
	r := route.NewRouter()
	g := r.Group(8)
	route.DeclarePush[*demopb.EchoMsg](g, 100)
	route.Handle(g, 0, func(c *logic.Ctx, users []int64) (bool, error) {
		if err := c.Push(8, 100, &demopb.EchoMsg{Text: "self"}); err != nil {
			return false, err
		}
		if err := c.PushTo(users, 8, 100, &demopb.EchoMsg{Text: "list"}); err != nil {
			return false, err
		}
		return true, c.PushAll(8, 100, &demopb.EchoMsg{Text: "all"})
	})
	route.Handle(g, 1, func(c *logic.Ctx, _ string) (bool, error) { return true, c.Push(8, 100, &demopb.EchoMsg{}) })
	srv := startLogic(t, b, r)
	subjects := []string{fabric.UserPush(1), fabric.UserPush(2), fabric.UserPush(3), fabric.UserPush(4), fabric.PushAll}
	sink := newPushSink(t, b, subjects...)
	gw := connect(t, b)

	if ok, rep := ask[[]int64, bool](t, gw, "", fabric.Meta{Cmd: 8, UserID: 1}, []int64{2, 3}); !ok || rep.Status != 0 {
		t.Fatalf("push route: %+v", rep)
	}
	if _, rep := ask[string, bool](t, gw, "", fabric.Meta{Cmd: 8, Sub: 1}, ""); rep.Status != errs.CodeLoginRequired {
		t.Fatalf("push to self before login: %+v", rep)
	}
	end := &demopb.EchoMsg{Text: "end"}
	cl := srv.Client()
	if err := cl.PushTo(context.Background(), []int64{1, 2, 3, 4}, 8, 100, end); err != nil {
		t.Fatal(err)
	}
	if err := cl.PushAll(context.Background(), 8, 100, end); err != nil {
		t.Fatal(err)
	}
	texts := func(ms []*demopb.EchoMsg) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Text)
		}
		return out
	}
	for subj, want := range map[string][]string{
		fabric.UserPush(1): {"self"},
		fabric.UserPush(2): {"list"},
		fabric.UserPush(3): {"list"},
		fabric.UserPush(4): nil,
		fabric.PushAll:     {"all"},
	} {
		if got := texts(sink.until(subj)); !slices.Equal(got, want) {
			t.Errorf("%s got %q, want %q", subj, got, want)
		}
	}
}

func TestWrap(t *testing.T) {
	tests := []struct {
		name string
		got  proto.Message
		want proto.Message
	}{
		{"int32", logic.Wrap(int32(-3)), &iohao.IntValue{Value: -3}},
		{"int64", logic.Wrap(int64(1 << 40)), &iohao.LongValue{Value: 1 << 40}},
		{"bool", logic.Wrap(true), &iohao.BoolValue{Value: true}},
		{"string", logic.Wrap("x"), &iohao.StringValue{Value: "x"}},
		{"[]int32", logic.Wrap([]int32{1}), &iohao.IntValueList{Values: []int32{1}}},
		{"[]int64", logic.Wrap([]int64{2}), &iohao.LongValueList{Values: []int64{2}}},
		{"[]bool", logic.Wrap([]bool{true}), &iohao.BoolValueList{Values: []bool{true}}},
		{"[]string", logic.Wrap([]string{"a"}), &iohao.StringValueList{Values: []string{"a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !proto.Equal(tt.got, tt.want) {
				t.Fatalf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

// TestRegion: Online, Kick and user attributes go to the gate holding the
// user; a user no gate holds is offline.
func TestRegion(t *testing.T) {
	b := startNATS(t)
	r := route.NewRouter()
	route.Handle(r.Group(9), 0, func(c *logic.Ctx, _ string) (string, error) { return "", nil })
	srv := startLogic(t, b, r)
	controls := fakeControl(t, b, fabric.UserControl(7), func(c fabric.Control) fabric.ControlReply {
		switch c.Op {
		case fabric.OpOnline:
			return fabric.ControlReply{OK: true, Online: true, Gate: "g1", Session: 3}
		case fabric.OpGetAttrs:
			return fabric.ControlReply{OK: true, Attrs: map[string]string{"a": "1"}}
		}
		return fabric.ControlReply{OK: true}
	})
	cl := srv.Client()
	ctx := context.Background()

	if on, err := cl.Online(ctx, 7); err != nil || !on {
		t.Fatalf("Online(7) = %v, %v", on, err)
	}
	if on, err := cl.Online(ctx, 8); err != nil || on {
		t.Fatalf("Online(8) = %v, %v; want offline", on, err)
	}
	if err := cl.Kick(ctx, 7, errs.CodeForcedOffline, "bye"); err != nil {
		t.Fatal(err)
	}
	if err := cl.Kick(ctx, 8, errs.CodeForcedOffline, "bye"); err != nil {
		t.Fatalf("kicking an offline user: %v", err)
	}
	attrs, err := cl.UserAttrs(ctx, 7)
	if err != nil || !reflect.DeepEqual(attrs, map[string]string{"a": "1"}) {
		t.Fatalf("UserAttrs = %v, %v", attrs, err)
	}
	if _, err := cl.UserAttrs(ctx, 8); !errors.Is(err, logic.ErrOffline) {
		t.Fatalf("UserAttrs(offline) err = %v", err)
	}
	if err := cl.SetUserAttrs(ctx, 7, map[string]string{"b": "2"}); err != nil {
		t.Fatal(err)
	}
	if err := cl.SetUserAttrs(ctx, 8, map[string]string{"b": "2"}); !errors.Is(err, logic.ErrOffline) {
		t.Fatalf("SetUserAttrs(offline) err = %v", err)
	}
	want := []fabric.Control{
		{Op: fabric.OpOnline, User: 7},
		{Op: fabric.OpKick, User: 7, Code: errs.CodeForcedOffline, Msg: "bye"},
		{Op: fabric.OpGetAttrs, User: 7},
		{Op: fabric.OpSetAttrs, User: 7, Attrs: map[string]string{"b": "2"}},
	}
	for _, w := range want {
		if c := <-controls; !reflect.DeepEqual(c, w) {
			t.Fatalf("control %+v, want %+v", c, w)
		}
	}
	if len(controls) != 0 {
		t.Fatalf("unexpected control %+v", <-controls)
	}
}

// TestBindLogic: the binding lands in the bindings bucket and the gate
// holding the user is told; unbinding removes it.
func TestBindLogic(t *testing.T) {
	b := startNATS(t)
	r := route.NewRouter()
	g := r.Group(10)
	route.Handle(g, 0, func(c *logic.Ctx, _ string) (string, error) { return c.InstanceID(), c.BindHere() })
	route.Handle(g, 1, func(c *logic.Ctx, _ string) (string, error) { return "", c.UnbindHere() })
	srv := startLogic(t, b, r, func(c *logic.Config) { c.Service = "room"; c.InstanceID = "room-1" })
	controls := fakeControl(t, b, fabric.UserControl(11), okReply)
	reg := openRegistry(t, b)
	gw := connect(t, b)
	ctx := context.Background()

	if _, rep := ask[string, string](t, gw, "", fabric.Meta{Cmd: 10, UserID: 11}, ""); rep.Status != 0 {
		t.Fatal(rep)
	}
	bind, err := reg.Binding(ctx, 11)
	if err != nil || bind.Logic["room"] != "room-1" {
		t.Fatalf("binding %+v %v", bind, err)
	}
	if c := <-controls; !reflect.DeepEqual(c, fabric.Control{Op: fabric.OpBindLogic, User: 11, Service: "room", Instance: "room-1"}) {
		t.Fatalf("control %+v", c)
	}
	// Another service's binding is kept when this one is removed.
	if err := srv.Client().BindLogic(ctx, 11, "guild", "guild-9"); err != nil {
		t.Fatal(err)
	}
	<-controls
	if _, rep := ask[string, string](t, gw, "", fabric.Meta{Cmd: 10, Sub: 1, UserID: 11}, ""); rep.Status != 0 {
		t.Fatal(rep)
	}
	if c := <-controls; !reflect.DeepEqual(c, fabric.Control{Op: fabric.OpBindLogic, User: 11, Service: "room"}) {
		t.Fatalf("control %+v", c)
	}
	if bind, _ := reg.Binding(ctx, 11); !reflect.DeepEqual(bind.Logic, map[string]string{"guild": "guild-9"}) {
		t.Fatalf("binding after unbind %+v", bind)
	}
	// An offline user is bound in the bucket only.
	if err := srv.Client().BindLogic(ctx, 12, "room", "room-1"); err != nil {
		t.Fatal(err)
	}
	if bind, _ := reg.Binding(ctx, 12); bind.Logic["room"] != "room-1" {
		t.Fatalf("offline binding %+v", bind)
	}
	// Not logged in: refused.
	if _, rep := ask[string, string](t, gw, "", fabric.Meta{Cmd: 10, Session: 1}, ""); rep.Status != errs.CodeLoginRequired {
		t.Fatalf("BindHere before login: %+v", rep)
	}
}

// TestExec: functions on one key run one at a time in submission order,
// whoever submits them; ExecWait waits; a full queue is refused.
func TestExec(t *testing.T) {
	b := startNATS(t)
	var (
		active, maxActive atomic.Int32
		log               []int64 // touched only on key "room"
	)
	r := route.NewRouter()
	g := r.Group(11)
	route.Handle(g, 0, func(c *logic.Ctx, n int64) (bool, error) {
		return true, c.Exec("room", func(context.Context) {
			if a := active.Add(1); a > maxActive.Load() {
				maxActive.Store(a)
			}
			log = append(log, n)
			active.Add(-1)
		})
	})
	route.Handle(g, 1, func(c *logic.Ctx, _ string) ([]int64, error) {
		var out []int64
		err := c.ExecWait("room", func(context.Context) { out = slices.Clone(log) })
		return out, err
	})
	srv := startLogic(t, b, r)
	gw := connect(t, b)

	const users, per = 4, 50
	var wg sync.WaitGroup
	for u := range users {
		wg.Go(func() {
			for i := range per {
				if ok, rep := ask[int64, bool](t, gw, "", fabric.Meta{Cmd: 11, UserID: int64(u + 1)}, int64(u*1000+i)); !ok {
					t.Errorf("append: %+v", rep)
				}
			}
		})
	}
	wg.Wait()
	got, rep := ask[string, []int64](t, gw, "", fabric.Meta{Cmd: 11, Sub: 1, UserID: 9}, "")
	if rep.Status != 0 || len(got) != users*per {
		t.Fatalf("log has %d entries (%+v), want %d", len(got), rep, users*per)
	}
	next := make([]int64, users)
	for _, v := range got {
		u, i := v/1000, v%1000
		if i != next[u] {
			t.Fatalf("user %d: entry %d ran where %d was due", u, i, next[u])
		}
		next[u]++
	}
	if maxActive.Load() != 1 {
		t.Fatalf("%d functions ran at once on one key", maxActive.Load())
	}

	// Server.ExecWait from a function on the same key runs inline.
	ctx := context.Background()
	ran := false
	err := srv.ExecWait(ctx, "k", func(ctx context.Context) {
		_ = srv.ExecWait(ctx, "k", func(context.Context) { ran = true })
	})
	if err != nil || !ran {
		t.Fatalf("nested ExecWait: %v, ran %v", err, ran)
	}
	// A panic is contained.
	if err := srv.ExecWait(ctx, "k", func(context.Context) { panic("boom") }); err != nil {
		t.Fatal(err)
	}
}

func TestExecBusyAndStopped(t *testing.T) {
	b := startNATS(t)
	r := route.NewRouter()
	route.Handle(r.Group(12), 0, func(c *logic.Ctx, _ string) (string, error) { return "", nil })
	srv, err := logic.New(logic.Config{Service: "x", Router: r, Brokers: []string{b.ClientURL()}, MaxPending: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Exec("k", func(context.Context) {}); err == nil {
		t.Fatal("Exec before Start succeeded")
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	started := make(chan struct{})
	if err := srv.Exec("k", func(context.Context) { close(started); <-release }); err != nil {
		t.Fatal(err)
	}
	<-started
	var order []int
	for i := range 2 {
		if err := srv.Exec("k", func(context.Context) { order = append(order, i) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Exec("k", func(context.Context) {}); !errors.Is(err, logic.ErrBusy) {
		t.Fatalf("third waiting function: %v, want ErrBusy", err)
	}
	// Another key is unaffected.
	if err := srv.ExecWait(context.Background(), "other", func(context.Context) {}); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(order, []int{0, 1}) {
		t.Fatalf("order %v", order)
	}
	if err := srv.Exec("k", func(context.Context) {}); !errors.Is(err, logic.ErrStopped) {
		t.Fatalf("Exec after Shutdown: %v", err)
	}
}

// TestBrokerRestart: a broker that restarts with an empty store gets the
// routes and the instance entry back, and requests flow again.
func TestBrokerRestart(t *testing.T) {
	b1, err := broker.New(broker.Config{Host: "127.0.0.1", Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b1.Start(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(b1.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	r := route.NewRouter()
	route.Handle(r.Group(13), 0, func(c *logic.Ctx, s string) (string, error) { return s, nil }, route.Public())
	srv := startLogic(t, nil, r, func(c *logic.Config) {
		c.Brokers = []string{b1.ClientURL()}
		c.NATSOptions = []nats.Option{nats.ReconnectWait(20 * time.Millisecond)}
	})
	if err := b1.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// The same address, a new, empty store: as if the broker was replaced.
	var b2 *broker.Broker
	waitFor(t, 10*time.Second, func() error {
		b, err := broker.New(broker.Config{Host: "127.0.0.1", Port: port, StoreDir: t.TempDir()})
		if err != nil {
			return err
		}
		if err := b.Start(ctx); err != nil {
			return err
		}
		b2 = b
		return nil
	})
	t.Cleanup(func() { _ = b2.Shutdown(context.Background()) })
	reg := openRegistry(t, b2)
	waitFor(t, 15*time.Second, func() error {
		in, err := findInstance(ctx, reg, srv.InstanceID())
		if err != nil {
			return err
		}
		if in == nil {
			return errors.New("instance not registered again")
		}
		routes, err := reg.Routes(ctx)
		if err != nil {
			return err
		}
		if len(routes) != 1 || routes[0].Access != registry.AccessPublic {
			return fmt.Errorf("routes %+v", routes)
		}
		return nil
	})
	gw := connect(t, b2)
	waitFor(t, 10*time.Second, func() error {
		got, rep := ask[string, string](t, gw, "", fabric.Meta{Cmd: 13}, "ping")
		if rep.Status != 0 || got != "ping" {
			return fmt.Errorf("%q %+v", got, rep)
		}
		return nil
	})
	// Stop the server while its broker still runs.
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestStartWithoutBroker: Start needs the registry; without a broker it
// fails when its context ends, and Shutdown after it returns at once.
func TestStartWithoutBroker(t *testing.T) {
	r := route.NewRouter()
	route.Handle(r.Group(1), 0, func(c *logic.Ctx, _ string) (string, error) { return "", nil })
	srv, err := logic.New(logic.Config{Service: "x", Router: r, Brokers: []string{"nats://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := srv.Start(ctx); err == nil {
		t.Fatal("Start succeeded without a broker")
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Exec("k", func(context.Context) {}); err == nil {
		t.Fatal("Exec on a server that did not start")
	}
}

// BenchmarkPushTo measures encoding and publishing one push to 100 users.
func BenchmarkPushTo(b *testing.B) {
	br, err := broker.New(broker.Config{DontListen: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := br.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer br.Shutdown(context.Background())
	nc, err := br.InProcessConn()
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	cl, err := logic.NewClient(context.Background(), logic.ClientConfig{Conn: nc})
	if err != nil {
		b.Fatal(err)
	}
	users := make([]int64, 100)
	for i := range users {
		users[i] = int64(i + 1)
	}
	msg := &demopb.EchoMsg{Text: "a chat line of moderate length", Seq: 42}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := cl.PushTo(ctx, users, 8, 100, msg); err != nil {
			b.Fatal(err)
		}
	}
}
