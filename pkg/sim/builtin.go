package sim

import (
	"fmt"
	"slices"
	"strings"
	"time"

	demopb "github.com/iogo-dev/iogo/proto/demo"
	loginpb "github.com/iogo-dev/iogo/proto/login"
	"google.golang.org/protobuf/types/known/emptypb"
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

// Params tune a built-in scenario.
type Params struct {
	// Payload is the size in bytes of the text that echo sends.
	Payload int
	// Think is a pause at the end of every loop iteration.
	Think time.Duration
	// Run distinguishes the device IDs of one run's players from those of
	// another run against the same server, so that logins do not kick the
	// players of a run still going. Default: the current time.
	Run string
}

// Factory builds a scenario from parameters.
type Factory struct {
	Doc   string
	Build func(Params) (*Scenario, error)
}

// Catalog maps scenario names to their factories. The built-in catalog
// comes from Builtins; modules with scenarios of their own add them to
// the catalog the caller holds.
type Catalog map[string]Factory

// Builtins returns a fresh catalog of the built-in scenarios:
//
//	echo    demo 2-1: EchoMsg round trips, checking the echo
//	hello   demo 2-0: greetings
//	login   login 1-0 as a guest once, then whoami (1-1) round trips
//	idle    connect and send a heartbeat every 10 s (Params.Think changes it)
func Builtins() Catalog {
	return Catalog{
		"echo":  {Doc: docEcho, Build: Echo},
		"hello": {Doc: docHello, Build: Hello},
		"login": {Doc: docLogin, Build: Login},
		"idle":  {Doc: docIdle, Build: Idle},
	}
}

// Names returns the catalog's scenario names in order.
func (c Catalog) Names() []string {
	names := make([]string, 0, len(c))
	for n := range c {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Build returns the named scenario.
func (c Catalog) Build(name string, p Params) (*Scenario, error) {
	f, ok := c[name]
	if !ok {
		return nil, fmt.Errorf("sim: unknown scenario %q (have %s)", name, strings.Join(c.Names(), ", "))
	}
	sc, err := f.Build(p)
	if err != nil {
		return nil, fmt.Errorf("sim: scenario %q: %w", name, err)
	}
	if sc.Name == "" {
		sc.Name = name
	}
	return sc, nil
}

// withThink appends a think step when p asks for one.
func withThink(steps []Step, p Params) []Step {
	if p.Think > 0 {
		steps = append(steps, Think(p.Think))
	}
	return steps
}

// Echo is the echo scenario: each iteration sends an EchoMsg with a
// Payload-byte text and the iteration number to demo route 2-1 and checks
// that both come back.
func Echo(p Params) (*Scenario, error) {
	if p.Payload < 0 {
		return nil, fmt.Errorf("negative payload %d", p.Payload)
	}
	text := strings.Repeat("x", p.Payload)
	step := Request("echo", demoCmd, demoEcho,
		func(pl *Player) *demopb.EchoMsg { return &demopb.EchoMsg{Text: text, Seq: int64(pl.Iteration)} },
		func(_ *Player, req, resp *demopb.EchoMsg) error {
			if resp.GetSeq() != req.Seq || resp.GetText() != req.Text {
				return fmt.Errorf("echo: sent seq %d with %d bytes, got seq %d with %d bytes",
					req.Seq, len(req.Text), resp.GetSeq(), len(resp.GetText()))
			}
			return nil
		})
	return &Scenario{Name: "echo", Doc: docEcho, Loop: withThink([]Step{step}, p)}, nil
}

// Hello is the hello scenario: HelloReq round trips on demo route 2-0.
func Hello(p Params) (*Scenario, error) {
	step := Request("hello", demoCmd, demoHello,
		func(pl *Player) *demopb.HelloReq { return &demopb.HelloReq{Name: fmt.Sprint("p", pl.ID)} },
		func(pl *Player, req *demopb.HelloReq, resp *demopb.HelloResp) error {
			if want := "hello, " + req.Name; resp.GetText() != want {
				return fmt.Errorf("hello: got %q, want %q", resp.GetText(), want)
			}
			return nil
		})
	return &Scenario{Name: "hello", Doc: docHello, Loop: withThink([]Step{step}, p)}, nil
}

// Login is the login scenario: a guest login with a device ID unique to
// the player and the run, then whoami round trips that must answer the
// logged-in user.
func Login(p Params) (*Scenario, error) {
	run := p.Run
	if run == "" {
		run = fmt.Sprint(time.Now().UnixNano())
	}
	login := Request("login", loginCmd, loginGuest,
		func(pl *Player) *loginpb.GuestLogin {
			return &loginpb.GuestLogin{DeviceId: fmt.Sprintf("sim-%s-%d", run, pl.ID), Nickname: fmt.Sprint("bot", pl.ID)}
		},
		func(pl *Player, _ *loginpb.GuestLogin, u *loginpb.User) error {
			if u.GetId() == 0 {
				return fmt.Errorf("login: user ID 0")
			}
			pl.Set("user", u.GetId())
			return nil
		})
	whoami := Request("whoami", loginCmd, loginWhoAm,
		func(*Player) *emptypb.Empty { return &emptypb.Empty{} },
		func(pl *Player, _ *emptypb.Empty, u *loginpb.User) error {
			if want, _ := pl.Get("user").(int64); u.GetId() != want {
				return fmt.Errorf("whoami: user %d, want %d", u.GetId(), want)
			}
			return nil
		})
	return &Scenario{Name: "login", Doc: docLogin, Setup: []Step{login}, Loop: withThink([]Step{whoami}, p)}, nil
}

// Idle is the idle scenario: players connect and then only keep their
// connection alive with a heartbeat every Params.Think (default 10 s).
func Idle(p Params) (*Scenario, error) {
	every := p.Think
	if every <= 0 {
		every = 10 * time.Second
	}
	return &Scenario{Name: "idle", Doc: docIdle, Loop: []Step{Think(every), Heartbeat()}}, nil
}
