package tests

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/registry"
	"github.com/iogo-dev/iogo/pkg/stats"
	loginpb "github.com/iogo-dev/iogo/proto/login"
	"github.com/iogo-dev/iogo/sdk/go/loginapi"
	"google.golang.org/protobuf/types/known/emptypb"
)

// The open dev broker (issue 13, item 6): `iogo dev`'s NATS listened on
// 127.0.0.1:4222 without credentials, so any local process could read
// every request and reply (passwords, tokens) and publish a gate control
// message binding its session to another user. These tests attack the
// broker as such a process would.

// TestHostileBrokerDevNoListener: by default `iogo dev` opens no NATS port
// at all (its components connect in-process), and the gate still serves.
func TestHostileBrokerDevNoListener(t *testing.T) {
	d := startProc(t, "iogo", "dev", "dev", "-ws", "127.0.0.1:0", "-tcp", "127.0.0.1:0")
	if u, ok := d.ready["nats"]; ok {
		t.Errorf("iogo dev announces a NATS listener by default: nats=%s", u)
	}
	// The process listens on its two gate ports and nothing else.
	want := []int{portOf(t, d.ready["ws"]), portOf(t, d.ready["tcp"])}
	got := listeningPorts(t, d.cmd.Process.Pid)
	for _, p := range got {
		if !slices.Contains(want, p) {
			t.Errorf("iogo dev listens on TCP port %d besides its gate ports %v (all: %v)", p, want, got)
		}
	}
	// The usual broker port answers nobody (unless another program holds it).
	if c, err := net.DialTimeout("tcp", "127.0.0.1:4222", time.Second); err == nil {
		c.Close()
		if slices.Contains(got, 4222) {
			t.Error("iogo dev accepts connections on 127.0.0.1:4222")
		}
	}
	loginAndWhoAmI(t, d.ready["ws"], "no-listener")
}

// TestHostileBrokerDevListener: with -nats, the listener refuses clients
// without credentials, and the printed tool credential can neither read
// the traffic nor publish control or requests, while it still reads the
// route registry and the stats.
func TestHostileBrokerDevListener(t *testing.T) {
	d := startProc(t, "iogo", "dev", "dev", "-ws", "127.0.0.1:0", "-tcp", "127.0.0.1:0", "-nats", "127.0.0.1:0")
	natsURL := d.ready["nats"]
	if natsURL == "" {
		t.Fatalf("no nats URL in the ready line: %v", d.ready)
	}
	if _, err := nats.Connect(natsURL, nats.MaxReconnects(0)); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("connect without credentials: %v, want an authorization error", err)
	}
	for _, role := range fabric.Roles() {
		if d.ready["nats-"+role] == "" {
			t.Fatalf("no %s credential in the ready line: %v", role, d.ready)
		}
	}
	tool := roleConn(t, d.ready["nats-tool"], fabric.RoleTool)
	assertDenied(t, tool, []probe{
		{"sub", ">"},
		{"sub", "iogo.>"},
		{"sub", fabric.AnyRequest},
		{"sub", "_INBOX.>"},
		{"sub", fabric.AnyGateReply},
		{"pub", fabric.GateControl("dev-gate")},
		{"pub", fabric.UserControl(1)},
		{"pub", fabric.Request(1, 0)},
		{"pub", fabric.UserPush(1)},
	})
	// The tool's job still works: the registry and the stats.
	toolReads(t, tool.nc)
	loginAndWhoAmI(t, d.ready["ws"], "listener")
}

// TestHostileBrokerSplitRoles runs a split deployment in which every
// process connects with the credential of its role: it works end to end,
// and a logic server's credential cannot do what only gates do (receive
// control, pushes and replies meant for players, send requests to a bound
// instance, forge a reply), nor touch the framework buckets' streams.
func TestHostileBrokerSplitRoles(t *testing.T) {
	pw := map[string]string{}
	args := []string{"-host", "127.0.0.1", "-port", "-1", "-store", t.TempDir()}
	for _, r := range fabric.Roles() {
		pw[r] = r + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		args = append(args, "-"+r+"-user", r, "-"+r+"-password", pw[r])
	}
	b := startProc(t, "broker", "broker", args...)
	brokers := b.ready["nats"]
	logicCred := []string{"-brokers", brokers, "-user", fabric.RoleLogic, "-password", pw[fabric.RoleLogic]}
	for _, bin := range bundled {
		startProc(t, bin, "logic", logicCred...)
	}
	startProc(t, "testsvc", "logic", append(logicCred, "-id", "svc-1")...) // region calls
	ext := startProc(t, "external", "external", "-brokers", brokers, "-ws", "127.0.0.1:0", "-tcp", "127.0.0.1:0",
		"-user", fabric.RoleGate, "-password", pw[fabric.RoleGate], "-id", "gate-a")

	// Everything works: requests, login (a logic server binds the session
	// through gate control), the modules' JetStream data, the registry.
	for _, u := range []string{ext.ready["tcp"], ext.ready["ws"]} {
		t.Run(u[:3], func(t *testing.T) { exercise(t, u) })
	}
	loginAndWhoAmI(t, ext.ready["ws"], "split")
	// A region call from a logic server to every gate: the gate
	// acknowledges, then answers.
	c := tlsDial(t, ext.ready["tcp"])
	tlsWaitRoute(t, c, cmdRegion, regionSessions)
	if got := tlsCall[string, []string](t, c, cmdRegion, regionSessions, ""); !slices.Equal(got, []string{"gate-a=1"}) {
		t.Fatalf("region call: sessions per gate %q, want [gate-a=1]", got)
	}
	if v := violations(b.log()); len(v) > 0 {
		t.Fatalf("the services' own traffic broke a permission:\n%s", strings.Join(v, "\n"))
	}

	withCred := func(role string) string {
		u, err := url.Parse(brokers)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword(role, pw[role])
		return u.String()
	}
	if _, err := nats.Connect(brokers, nats.MaxReconnects(0)); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("connect without credentials: %v, want an authorization error", err)
	}
	if _, err := nats.Connect(withCred(fabric.RoleTool)+"x", nats.MaxReconnects(0)); err == nil {
		t.Fatal("connect with a wrong password succeeded")
	}
	gateID := gateOf(t, withCred(fabric.RoleTool))
	logic := roleConn(t, withCred(fabric.RoleLogic), fabric.RoleLogic)
	assertDenied(t, logic, []probe{
		{"sub", fabric.GateControl(gateID)}, // pose as the gate
		{"sub", fabric.AnyGateControl},
		{"sub", fabric.AnyUserControl},
		{"sub", fabric.AnyUserPush},
		{"sub", fabric.PushAll},
		{"sub", fabric.GateInbox(gateID)}, // players' replies: tokens
		{"sub", "_INBOX.>"},
		{"sub", fabric.InboxPrefix(fabric.RoleGate) + ".>"},
		{"sub", ">"},
		{"pub", fabric.Instance("dev-login", 1, 0)}, // only gates send players' requests to an instance
		{"pub", "$JS.API.STREAM.DELETE.KV_" + fabric.BucketBindings},
	})
	tool := roleConn(t, withCred(fabric.RoleTool), fabric.RoleTool)
	assertDenied(t, tool, []probe{
		{"pub", fabric.GateControl(gateID)},
		{"pub", fabric.UserControl(1)},
		{"sub", "iogo.>"},
	})
	toolReads(t, tool.nc)
	// A gate's credential cannot serve a route (and so collect passwords).
	gate := roleConn(t, withCred(fabric.RoleGate), fabric.RoleGate)
	assertDenied(t, gate, []probe{
		{"queue", fabric.Request(1, 3)},
		{"sub", fabric.AnyRequest},
		{"pub", fabric.UserPush(1)},
	})
}

// loginAndWhoAmI logs a guest in on the gate at ws and asks who it is:
// the logic server binds the session through gate control.
func loginAndWhoAmI(t *testing.T, ws, device string) {
	t.Helper()
	ctx := deadline(t)
	c, err := client.Dial(ctx, ws)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	u, err := loginapi.GuestLogin(ctx, c, &loginpb.GuestLogin{DeviceId: "hostile-broker-" + device})
	if err != nil {
		t.Fatalf("guest login: %v", err)
	}
	me, err := loginapi.WhoAmI(ctx, c, &emptypb.Empty{})
	if err != nil || me.Id != u.Id {
		t.Fatalf("whoami after login: %v, %v (want user %d)", me, err, u.Id)
	}
}

// toolReads checks that a tool connection reads the route registry and
// gathers the stats of gates and logic servers (who answer it on the
// tool's inbox).
func toolReads(t *testing.T, nc *nats.Conn) {
	t.Helper()
	ctx := deadline(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Open(ctx, js)
	if err != nil {
		t.Fatalf("tool opens the registry: %v", err)
	}
	routes, err := reg.Routes(ctx)
	if err != nil || len(routes) == 0 {
		t.Fatalf("tool lists the routes: %d, %v", len(routes), err)
	}
	g, err := stats.GatherAll(ctx, nc)
	if err != nil || len(g.Logic) == 0 || len(g.Gates) == 0 {
		t.Fatalf("tool gathers stats: %d logic, %d gates, %v", len(g.Logic), len(g.Gates), err)
	}
}

// gateOf returns the ID of the one gate of a deployment, from its stats.
func gateOf(t *testing.T, brokerURL string) string {
	t.Helper()
	nc := roleConn(t, brokerURL, fabric.RoleTool).nc
	g, err := stats.GatherAll(deadline(t), nc)
	if err != nil || len(g.Gates) != 1 {
		t.Fatalf("gates: %+v, %v", g.Gates, err)
	}
	return g.Gates[0].Gate
}

// attackConn is a connection to a broker with the asynchronous errors the
// server sent it.
type attackConn struct {
	nc   *nats.Conn
	errs chan error
}

// roleConn connects to u (credentials in the URL) with role's inbox
// prefix, as a service of that role would.
func roleConn(t *testing.T, u, role string) attackConn {
	t.Helper()
	a := attackConn{errs: make(chan error, 64)}
	nc, err := nats.Connect(u, nats.MaxReconnects(0), nats.CustomInboxPrefix(fabric.InboxPrefix(role)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case a.errs <- err:
			default:
			}
		}))
	if err != nil {
		t.Fatalf("connect as %s: %v", role, err)
	}
	t.Cleanup(nc.Close)
	a.nc = nc
	return a
}

// probe is one subscription ("sub", "queue") or publication ("pub") an
// attacker tries.
type probe struct{ op, subject string }

// assertDenied makes each probe on a and requires the server's
// permissions violation for it.
func assertDenied(t *testing.T, a attackConn, probes []probe) {
	t.Helper()
	for _, p := range probes {
		var err error
		switch p.op {
		case "sub":
			_, err = a.nc.Subscribe(p.subject, func(*nats.Msg) {})
		case "queue":
			_, err = a.nc.QueueSubscribe(p.subject, "q", func(*nats.Msg) {})
		case "pub":
			err = a.nc.Publish(p.subject, []byte(`{"op":"bind","user":1,"session":1}`))
		}
		if err != nil {
			t.Fatalf("%s %q: %v", p.op, p.subject, err)
		}
		_ = a.nc.Flush()
		timer := time.NewTimer(10 * time.Second)
	wait:
		for {
			select {
			case err := <-a.errs:
				if errors.Is(err, nats.ErrPermissionViolation) &&
					strings.Contains(strings.ToLower(err.Error()), strings.ToLower(strconv.Quote(p.subject))) {
					break wait
				}
			case <-timer.C:
				t.Errorf("%s %q: allowed, want a permissions violation", p.op, p.subject)
				break wait
			}
		}
		timer.Stop()
	}
}

// violations returns the permission violations a broker logged.
func violations(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "Violation") {
			out = append(out, l)
		}
	}
	return out
}

// portOf returns the port of a ws:// or tcp:// URL.
func portOf(t *testing.T, raw string) int {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	return p
}

// listeningPorts returns the TCP ports on which process pid has a
// listening socket: the inodes of its socket descriptors, looked up among
// the LISTEN entries of its network namespace.
func listeningPorts(t *testing.T, pid int) []int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	var ports []int
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] {
				continue
			}
			_, hexPort, _ := strings.Cut(fields[1], ":")
			if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil && !slices.Contains(ports, int(p)) {
				ports = append(ports, int(p))
			}
		}
		f.Close()
	}
	slices.Sort(ports)
	return ports
}
