package broker_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/fabric"
)

// permWait bounds the wait for a message or a permissions error.
const permWait = 10 * time.Second

// roleUsers are the credentials of TestPermissions' broker.
var roleUsers = []broker.User{
	{Role: fabric.RoleGate, Name: "gate", Password: "gate-pw"},
	{Role: fabric.RoleLogic, Name: "logic", Password: "logic-pw"},
	{Role: fabric.RoleTool, Name: "tool", Password: "tool-pw"},
}

// permCase is one subject a role may or may not use.
type permCase struct {
	name    string
	role    string
	op      string // "pub", "sub" or "queue"
	subject string
	// via is the subject the test publishes on for a "sub" or "queue"
	// case: one the subscription matches. "" means subject.
	via     string
	allowed bool
}

// permCases is the permission table: what each role must be able to do
// for its job, and what it must not (see broker.Permissions).
var permCases = []permCase{
	// A gate forwards players' requests and kicks on other gates...
	{"gate requests a route", fabric.RoleGate, "pub", fabric.Request(1, 0), "", true},
	{"gate requests a bound instance", fabric.RoleGate, "pub", fabric.Instance("login-1", 1, 0), "", true},
	{"gate kicks on another gate", fabric.RoleGate, "pub", fabric.GateControl("g2"), "", true},
	{"gate claims a user", fabric.RoleGate, "pub", "$KV.iogo_bindings.u1", "", true},
	{"gate reads the routes", fabric.RoleGate, "pub", "$JS.API.DIRECT.GET.KV_iogo_routes", "", true},
	{"gate receives its replies", fabric.RoleGate, "sub", fabric.GateInbox("g1"), fabric.GateReply("g1", 7), true},
	{"gate receives control", fabric.RoleGate, "sub", fabric.GateControl("g1"), "", true},
	{"gate receives user control", fabric.RoleGate, "sub", fabric.UserControl(5), "", true},
	{"gate receives pushes", fabric.RoleGate, "sub", fabric.UserPush(5), "", true},
	{"gate receives broadcasts", fabric.RoleGate, "sub", fabric.PushAll, "", true},
	{"gate receives region calls", fabric.RoleGate, "sub", fabric.External(3), "", true},
	{"gate's own inbox", fabric.RoleGate, "sub", fabric.InboxPrefix(fabric.RoleGate) + ".x.>", fabric.InboxPrefix(fabric.RoleGate) + ".x.1", true},
	{"gate stats", fabric.RoleGate, "sub", "$SRV.PING", "", true},
	// ...and cannot serve, push or publish events.
	{"gate serves a route", fabric.RoleGate, "queue", fabric.Request(1, 0), "", false},
	{"gate reads requests", fabric.RoleGate, "sub", fabric.AnyRequest, fabric.Request(1, 0), false},
	{"gate pushes", fabric.RoleGate, "pub", fabric.UserPush(5), "", false},
	{"gate broadcasts", fabric.RoleGate, "pub", fabric.PushAll, "", false},
	{"gate sends user control", fabric.RoleGate, "pub", fabric.UserControl(5), "", false},
	{"gate publishes an event", fabric.RoleGate, "pub", fabric.Event("guild.created"), "", false},
	{"gate writes routes", fabric.RoleGate, "pub", "$KV.iogo_routes.1.0", "", false},
	{"gate creates a stream", fabric.RoleGate, "pub", "$JS.API.STREAM.CREATE.SPY", "", false},
	{"gate reads a module's data", fabric.RoleGate, "pub", "$JS.API.DIRECT.GET.KV_login_accounts", "", false},
	{"gate reads logic replies", fabric.RoleGate, "sub", fabric.InboxPrefix(fabric.RoleLogic) + ".>", fabric.InboxPrefix(fabric.RoleLogic) + ".x", false},

	// A logic server serves routes, calls, pushes, binds sessions...
	{"logic serves a route", fabric.RoleLogic, "queue", fabric.Request(1, 0), "", true},
	{"logic serves its instance", fabric.RoleLogic, "sub", fabric.Instance("login-1", 1, 0), "", true},
	{"logic receives fan-out", fabric.RoleLogic, "sub", fabric.All(1, 0), "", true},
	{"logic subscribes to events", fabric.RoleLogic, "queue", fabric.Event("guild.created"), "", true},
	{"logic calls a route", fabric.RoleLogic, "pub", fabric.Request(2, 1), "", true},
	{"logic calls all", fabric.RoleLogic, "pub", fabric.All(2, 1), "", true},
	{"logic pushes", fabric.RoleLogic, "pub", fabric.UserPush(5), "", true},
	{"logic broadcasts", fabric.RoleLogic, "pub", fabric.PushAll, "", true},
	{"logic binds a session at login", fabric.RoleLogic, "pub", fabric.GateControl("g1"), "", true},
	{"logic kicks a user", fabric.RoleLogic, "pub", fabric.UserControl(5), "", true},
	{"logic publishes an event", fabric.RoleLogic, "pub", fabric.Event("guild.created"), "", true},
	{"logic calls a region action", fabric.RoleLogic, "pub", fabric.External(3), "", true},
	{"logic stores data", fabric.RoleLogic, "pub", "$KV.login_accounts.a", "", true},
	{"logic uses JetStream", fabric.RoleLogic, "pub", "$JS.API.STREAM.INFO.KV_login_accounts", "", true},
	{"logic's own inbox", fabric.RoleLogic, "sub", fabric.InboxPrefix(fabric.RoleLogic) + ".>", fabric.InboxPrefix(fabric.RoleLogic) + ".x", true},
	// ...and cannot pose as a gate or read what gates receive.
	{"logic receives gate control", fabric.RoleLogic, "sub", fabric.GateControl("g1"), "", false},
	{"logic receives all gate control", fabric.RoleLogic, "sub", fabric.AnyGateControl, fabric.GateControl("g1"), false},
	{"logic receives user control", fabric.RoleLogic, "sub", fabric.UserControl(5), "", false},
	{"logic receives pushes", fabric.RoleLogic, "sub", fabric.UserPush(5), "", false},
	{"logic receives broadcasts", fabric.RoleLogic, "sub", fabric.PushAll, "", false},
	{"logic reads gate replies", fabric.RoleLogic, "sub", fabric.AnyGateReply, fabric.GateReply("g1", 7), false},
	{"logic reads gate inboxes", fabric.RoleLogic, "sub", fabric.InboxPrefix(fabric.RoleGate) + ".>", fabric.InboxPrefix(fabric.RoleGate) + ".x", false},
	{"logic reads every inbox", fabric.RoleLogic, "sub", "_INBOX.>", fabric.GateReply("g1", 7), false},
	{"logic replies to a gate after a reconnect", fabric.RoleLogic, "pub", fabric.GateReply("g1", 7), "", true},
	{"logic forges a bound request", fabric.RoleLogic, "pub", fabric.Instance("login-1", 1, 0), "", false},
	{"logic deletes the bindings", fabric.RoleLogic, "pub", "$JS.API.STREAM.DELETE.KV_iogo_bindings", "", false},
	{"logic recreates the routes", fabric.RoleLogic, "pub", "$JS.API.STREAM.CREATE.KV_iogo_routes", "", false},
	{"logic reads everything", fabric.RoleLogic, "sub", ">", fabric.Request(1, 0), false},

	// A tool reads the registry and stats, nothing else.
	{"tool pings services", fabric.RoleTool, "pub", "$SRV.PING.login", "", true},
	{"tool asks for stats", fabric.RoleTool, "pub", "$SRV.STATS", "", true},
	{"tool reads the routes", fabric.RoleTool, "pub", "$JS.API.DIRECT.GET.KV_iogo_routes", "", true},
	{"tool watches the services", fabric.RoleTool, "pub", "$JS.API.CONSUMER.CREATE.KV_iogo_services", "", true},
	{"tool's own inbox", fabric.RoleTool, "sub", fabric.InboxPrefix(fabric.RoleTool) + ".>", fabric.InboxPrefix(fabric.RoleTool) + ".x", true},
	{"tool reads everything", fabric.RoleTool, "sub", ">", fabric.Request(1, 0), false},
	{"tool reads iogo traffic", fabric.RoleTool, "sub", "iogo.>", fabric.Request(1, 0), false},
	{"tool reads requests", fabric.RoleTool, "sub", fabric.AnyRequest, fabric.Request(1, 0), false},
	{"tool reads every inbox", fabric.RoleTool, "sub", "_INBOX.>", fabric.GateReply("g1", 7), false},
	{"tool answers stats requests", fabric.RoleTool, "sub", "$SRV.>", "$SRV.PING", false},
	{"tool calls a route", fabric.RoleTool, "pub", fabric.Request(1, 0), "", false},
	{"tool binds a session", fabric.RoleTool, "pub", fabric.GateControl("g1"), "", false},
	{"tool kicks a user", fabric.RoleTool, "pub", fabric.UserControl(5), "", false},
	{"tool pushes", fabric.RoleTool, "pub", fabric.UserPush(5), "", false},
	{"tool reads the bindings", fabric.RoleTool, "pub", "$JS.API.DIRECT.GET.KV_iogo_bindings", "", false},
	{"tool writes the routes", fabric.RoleTool, "pub", "$KV.iogo_routes.1.0", "", false},
	{"tool forges a gate reply", fabric.RoleTool, "pub", fabric.GateReply("g1", 7), "", false},
}

// TestPermissions checks every case of permCases against a real server,
// once over TCP with the role's credentials and once in-process
// (InProcessConnAs, as `iogo dev` connects).
func TestPermissions(t *testing.T) {
	cfg := localConfig()
	cfg.User, cfg.Password = "admin", "admin-pw"
	cfg.Users = roleUsers
	b := startBroker(t, cfg)
	admin, err := b.InProcessConn()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()

	password := map[string]string{}
	for _, u := range roleUsers {
		password[u.Role] = u.Password
	}
	connectors := []struct {
		name string
		dial func(role string, opts ...nats.Option) (*nats.Conn, error)
	}{
		{"tcp", func(role string, opts ...nats.Option) (*nats.Conn, error) {
			opts = append(opts, nats.UserInfo(role, password[role]), nats.CustomInboxPrefix(fabric.InboxPrefix(role)))
			return nats.Connect(b.ClientURL(), opts...)
		}},
		{"in-process", func(role string, opts ...nats.Option) (*nats.Conn, error) {
			return b.InProcessConnAs(role, opts...)
		}},
	}
	for _, c := range connectors {
		t.Run(c.name, func(t *testing.T) {
			for _, tt := range permCases {
				t.Run(tt.name, func(t *testing.T) {
					checkPerm(t, admin, c.dial, tt)
				})
			}
		})
	}
}

// checkPerm tries one case: it waits for the message to arrive (allowed)
// or for the server's permissions error (denied).
func checkPerm(t *testing.T, admin *nats.Conn, dial func(string, ...nats.Option) (*nats.Conn, error), tt permCase) {
	t.Helper()
	errs := make(chan error, 4)
	nc, err := dial(tt.role, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case errs <- err:
		default:
		}
	}))
	if err != nil {
		t.Fatalf("connect as %s: %v", tt.role, err)
	}
	defer nc.Close()

	got := make(chan *nats.Msg, 1)
	deliver := func(m *nats.Msg) {
		select {
		case got <- m:
		default:
		}
	}
	var sub *nats.Subscription
	switch tt.op {
	case "pub":
		sub, err = admin.Subscribe(tt.subject, deliver)
		if err == nil {
			err = admin.Flush()
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish(tt.subject, []byte("probe")); err != nil {
			t.Fatal(err)
		}
		_ = nc.Flush()
	case "sub", "queue":
		if tt.op == "queue" {
			sub, err = nc.QueueSubscribe(tt.subject, "q", deliver)
		} else {
			sub, err = nc.Subscribe(tt.subject, deliver)
		}
		if err != nil {
			t.Fatal(err)
		}
		_ = nc.Flush()
		via := tt.via
		if via == "" {
			via = tt.subject
		}
		if err := admin.Publish(via, []byte("probe")); err != nil {
			t.Fatal(err)
		}
		_ = admin.Flush()
	default:
		t.Fatalf("unknown op %q", tt.op)
	}
	defer func() { _ = sub.Unsubscribe() }()

	timer := time.NewTimer(permWait)
	defer timer.Stop()
	for {
		select {
		case m := <-got:
			if string(m.Data) != "probe" {
				continue // someone else's message on a wildcard
			}
			if !tt.allowed {
				t.Fatalf("%s may %s %q: want a permissions violation", tt.role, tt.op, tt.subject)
			}
			return
		case err := <-errs:
			if !errors.Is(err, nats.ErrPermissionViolation) {
				t.Fatalf("unexpected async error: %v", err)
			}
			if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tt.subject)) {
				continue // a violation on another subject (none expected)
			}
			if tt.allowed {
				t.Fatalf("%s may not %s %q: %v", tt.role, tt.op, tt.subject, err)
			}
			return
		case <-timer.C:
			t.Fatalf("%s %s %q: neither the message nor a permissions error within %v", tt.role, tt.op, tt.subject, permWait)
		}
	}
}

// TestPermissionsReply checks that a logic server answers a gate's request
// on the gate's reply subject, which it may not publish to otherwise,
// and that a tool gets answers on its own inbox.
func TestPermissionsReply(t *testing.T) {
	cfg := localConfig()
	cfg.Users = roleUsers
	b := startBroker(t, cfg)
	gate, err := b.InProcessConnAs(fabric.RoleGate)
	if err != nil {
		t.Fatal(err)
	}
	defer gate.Close()
	logic, err := b.InProcessConnAs(fabric.RoleLogic)
	if err != nil {
		t.Fatal(err)
	}
	defer logic.Close()

	sub, err := logic.QueueSubscribe(fabric.Request(1, 0), "login", func(m *nats.Msg) { _ = m.Respond([]byte("pong")) })
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := logic.Flush(); err != nil {
		t.Fatal(err)
	}
	replies := make(chan *nats.Msg, 1)
	inbox, err := gate.ChanSubscribe(fabric.GateInbox("g1"), replies)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = inbox.Unsubscribe() }()
	if err := gate.PublishMsg(&nats.Msg{Subject: fabric.Request(1, 0), Reply: fabric.GateReply("g1", 1), Data: []byte("ping")}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-replies:
		if string(m.Data) != "pong" {
			t.Fatalf("reply %q", m.Data)
		}
	case <-time.After(permWait):
		t.Fatal("no reply from the logic server on the gate's reply subject")
	}

	// A control request from a logic server, answered by the gate on the
	// logic server's inbox.
	ctl, err := gate.Subscribe(fabric.GateControl("g1"), func(m *nats.Msg) { _ = m.Respond([]byte(`{"ok":true}`)) })
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ctl.Unsubscribe() }()
	if err := gate.Flush(); err != nil {
		t.Fatal(err)
	}
	if m, err := logic.Request(fabric.GateControl("g1"), []byte(`{"op":"bind"}`), permWait); err != nil || string(m.Data) != `{"ok":true}` {
		t.Fatalf("control request: %v, %v", m, err)
	}

	// A region call to every gate: the gate acknowledges, then answers,
	// two messages on the caller's reply subject.
	region, err := gate.Subscribe(fabric.External(fabric.BizSessions), func(m *nats.Msg) {
		_ = m.Respond([]byte("ack"))
		_ = m.Respond([]byte("answer"))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = region.Unsubscribe() }()
	if err := gate.Flush(); err != nil {
		t.Fatal(err)
	}
	inboxCh := make(chan *nats.Msg, 2)
	reply := logic.NewInbox()
	rsub, err := logic.ChanSubscribe(reply, inboxCh)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rsub.Unsubscribe() }()
	if err := logic.PublishRequest(fabric.External(fabric.BizSessions), reply, nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ack", "answer"} {
		select {
		case m := <-inboxCh:
			if string(m.Data) != want {
				t.Fatalf("region reply %q, want %q", m.Data, want)
			}
		case <-time.After(permWait):
			t.Fatalf("no region reply %q", want)
		}
	}
}

// TestRoleUsersConnect checks who may connect: the role users over TCP,
// nobody without credentials, and the broker's internal users only
// in-process.
func TestRoleUsersConnect(t *testing.T) {
	cfg := localConfig()
	cfg.Users = roleUsers
	b := startBroker(t, cfg)
	tests := []struct {
		name    string
		opts    []nats.Option
		wantErr error
	}{
		{"no credentials", nil, nats.ErrAuthorization},
		{"gate", []nats.Option{nats.UserInfo("gate", "gate-pw")}, nil},
		{"wrong password", []nats.Option{nats.UserInfo("gate", "logic-pw")}, nats.ErrAuthorization},
		{"internal user over TCP", []nats.Option{nats.UserInfo(broker.InternalUser(b, ""))}, nats.ErrAuthorization},
		{"internal logic user over TCP", []nats.Option{nats.UserInfo(broker.InternalUser(b, fabric.RoleLogic))}, nats.ErrAuthorization},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := nats.Connect(b.ClientURL(), tt.opts...)
			if nc != nil {
				defer nc.Close()
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Connect: %v, want %v", err, tt.wantErr)
			}
		})
	}
	if _, err := b.InProcessConnAs("admin"); err == nil {
		t.Error("InProcessConnAs accepted an unknown role")
	}
}
