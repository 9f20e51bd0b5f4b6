// Package builtin holds the scenarios that `iogo sim` offers by name
// (echo, hello, login, idle): they call the bundled demo and login
// services, so they live apart from package sim, which imports no
// service's messages.
package builtin

import (
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/iogo-dev/iogo/pkg/sim"
	demopb "github.com/iogo-dev/iogo/proto/demo"
	loginpb "github.com/iogo-dev/iogo/proto/login"
)

// Routes of the bundled services that the built-in scenarios call. They
// mirror the constants of services/logic-demo and services/logic-login,
// which this module cannot import.
const (
	demoCmd    int32 = 2
	demoHello  int32 = 0
	demoEcho   int32 = 1
	loginCmd   int32 = 1
	loginGuest int32 = 0
	loginWhoAm int32 = 1
)

const (
	docEcho  = "EchoMsg round trips on demo route 2-1, each checked"
	docHello = "HelloReq round trips on demo route 2-0"
	docLogin = "guest login (1-0) once, then whoami (1-1) round trips"
	docIdle  = "connections that only send a heartbeat every 10s (or Params.Think)"
)

// Catalog returns a fresh catalog of the built-in scenarios:
//
//	echo    demo 2-1: EchoMsg round trips, checking the echo
//	hello   demo 2-0: greetings
//	login   login 1-0 as a guest once, then whoami (1-1) round trips
//	idle    connect and send a heartbeat every 10 s (Params.Think changes it)
func Catalog() sim.Catalog {
	return sim.Catalog{
		"echo":  {Doc: docEcho, Build: Echo},
		"hello": {Doc: docHello, Build: Hello},
		"login": {Doc: docLogin, Build: Login},
		"idle":  {Doc: docIdle, Build: Idle},
	}
}

// withThink appends a think step when p asks for one.
func withThink(steps []sim.Step, p sim.Params) []sim.Step {
	if p.Think > 0 {
		steps = append(steps, sim.Think(p.Think))
	}
	return steps
}

// Echo is the echo scenario: each iteration sends an EchoMsg with a
// Payload-byte text and the iteration number to demo route 2-1 and checks
// that both come back.
func Echo(p sim.Params) (*sim.Scenario, error) {
	if p.Payload < 0 {
		return nil, fmt.Errorf("negative payload %d", p.Payload)
	}
	text := strings.Repeat("x", p.Payload)
	step := sim.Request("echo", demoCmd, demoEcho,
		func(pl *sim.Player) *demopb.EchoMsg { return &demopb.EchoMsg{Text: text, Seq: int64(pl.Iteration)} },
		func(_ *sim.Player, req, resp *demopb.EchoMsg) error {
			if resp.GetSeq() != req.Seq || resp.GetText() != req.Text {
				return fmt.Errorf("echo: sent seq %d with %d bytes, got seq %d with %d bytes",
					req.Seq, len(req.Text), resp.GetSeq(), len(resp.GetText()))
			}
			return nil
		})
	return &sim.Scenario{Name: "echo", Doc: docEcho, Loop: withThink([]sim.Step{step}, p)}, nil
}

// Hello is the hello scenario: HelloReq round trips on demo route 2-0.
func Hello(p sim.Params) (*sim.Scenario, error) {
	step := sim.Request("hello", demoCmd, demoHello,
		func(pl *sim.Player) *demopb.HelloReq { return &demopb.HelloReq{Name: fmt.Sprint("p", pl.ID)} },
		func(pl *sim.Player, req *demopb.HelloReq, resp *demopb.HelloResp) error {
			if want := "hello, " + req.Name; resp.GetText() != want {
				return fmt.Errorf("hello: got %q, want %q", resp.GetText(), want)
			}
			return nil
		})
	return &sim.Scenario{Name: "hello", Doc: docHello, Loop: withThink([]sim.Step{step}, p)}, nil
}

// Login is the login scenario: a guest login with a device ID unique to
// the player and the run, then whoami round trips that must answer the
// logged-in user.
func Login(p sim.Params) (*sim.Scenario, error) {
	run := p.Run
	if run == "" {
		run = fmt.Sprint(time.Now().UnixNano())
	}
	login := sim.Request("login", loginCmd, loginGuest,
		func(pl *sim.Player) *loginpb.GuestLogin {
			return &loginpb.GuestLogin{DeviceId: fmt.Sprintf("sim-%s-%d", run, pl.ID), Nickname: fmt.Sprint("bot", pl.ID)}
		},
		func(pl *sim.Player, _ *loginpb.GuestLogin, u *loginpb.User) error {
			if u.GetId() == 0 {
				return fmt.Errorf("login: user ID 0")
			}
			pl.Set("user", u.GetId())
			return nil
		})
	whoami := sim.Request("whoami", loginCmd, loginWhoAm,
		func(*sim.Player) *emptypb.Empty { return &emptypb.Empty{} },
		func(pl *sim.Player, _ *emptypb.Empty, u *loginpb.User) error {
			if want, _ := pl.Get("user").(int64); u.GetId() != want {
				return fmt.Errorf("whoami: user %d, want %d", u.GetId(), want)
			}
			return nil
		})
	return &sim.Scenario{Name: "login", Doc: docLogin, Setup: []sim.Step{login}, Loop: withThink([]sim.Step{whoami}, p)}, nil
}

// Idle is the idle scenario: players connect and then only keep their
// connection alive with a heartbeat every Params.Think (default 10 s).
func Idle(p sim.Params) (*sim.Scenario, error) {
	every := p.Think
	if every <= 0 {
		every = 10 * time.Second
	}
	return &sim.Scenario{Name: "idle", Doc: docIdle, Loop: []sim.Step{sim.Think(every), sim.Heartbeat()}}, nil
}
