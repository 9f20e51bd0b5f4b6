package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/wire"
)

// Scenario is what every simulated player does: Setup once after it
// connects, then Loop over and over until the run's bound.
type Scenario struct {
	// Name names the scenario in reports.
	Name string
	// Doc is a one-line description for listings.
	Doc string
	// Setup runs once per player, right after it connects (a login). A
	// player whose setup fails stops; its errors are counted.
	Setup []Step
	// Loop runs repeatedly. It must not be empty.
	Loop []Step
}

// validate reports a scenario that cannot run.
func (s *Scenario) validate() error {
	if s == nil {
		return errors.New("sim: no scenario")
	}
	if len(s.Loop) == 0 {
		return fmt.Errorf("sim: scenario %q has no loop steps", s.Name)
	}
	for _, st := range append(append([]Step(nil), s.Setup...), s.Loop...) {
		if st.err != nil {
			return fmt.Errorf("sim: scenario %q: step %q: %w", s.Name, st.name, st.err)
		}
		if st.run == nil {
			return fmt.Errorf("sim: scenario %q: empty step", s.Name)
		}
	}
	return nil
}

// stepKind tells how the runner accounts for a step.
type stepKind uint8

const (
	kindRequest stepKind = iota // a timed round trip, counted as a request
	kindOther                   // think time, push wait, custom code
)

// Step is one action of a player: a request, a pause, a push to wait for.
// Steps are built with Request, Heartbeat, Think, ThinkRandom, ExpectPush
// and Do; a Step value is immutable and may be shared by scenarios.
type Step struct {
	name string
	kind stepKind
	err  error // a construction error, reported when the run starts
	// run performs the step. For a request step it returns the response
	// envelope (nil on transport failure) so the runner can time and
	// classify it; other steps return nil and any failure as an error.
	run    func(ctx context.Context, p *Player) (*wire.Message, error)
	expect int32 // the status a request step expects; 0 = success
	// check validates a successful response; nil accepts any.
	check func(p *Player, resp *wire.Message) error
}

// Name returns the step's name, as reports show it.
func (s Step) Name() string { return s.name }

// ExpectCode returns a copy of a request step that expects the response
// status code instead of success: a response with that code counts as a
// success, any other (0 included) as an error.
func (s Step) ExpectCode(code int32) Step {
	s.expect = code
	return s
}

// Request is a step that sends build's result to route (cmd, sub), times
// the round trip and decodes the response as Resp. Req and Resp are any
// type client.Call accepts (protobuf messages, bare values, slices). check,
// if not nil, validates the response; an error from it counts as an
// assertion failure. build and check run on the player's goroutine.
func Request[Req, Resp any](name string, cmd, sub int32, build func(p *Player) Req, check func(p *Player, req Req, resp Resp) error) Step {
	st := Step{name: name, kind: kindRequest}
	in, errIn := wire.ValueOf[Req]()
	out, errOut := wire.ValueOf[Resp]()
	if st.err = errors.Join(errIn, errOut); st.err != nil {
		return st
	}
	if build == nil {
		st.err = errors.New("nil build function")
		return st
	}
	// The request value is kept on the player between run and check: one
	// step of a player runs at a time.
	st.run = func(ctx context.Context, p *Player) (*wire.Message, error) {
		req := build(p)
		p.lastReq = req
		data, err := in.Append(p.buf[:0], p.c.Codec(), req)
		if err != nil {
			return nil, &stepError{code: CodeEncode, err: err}
		}
		p.buf = data
		return p.c.Request(ctx, cmd, sub, data)
	}
	if check != nil {
		st.check = func(p *Player, m *wire.Message) error {
			resp, err := out.Unmarshal(m.Data, p.c.Codec())
			if err != nil {
				return &stepError{code: CodeDecode, err: err}
			}
			req, _ := p.lastReq.(Req)
			return check(p, req, resp)
		}
	}
	return st
}

// Heartbeat is a step that sends a heartbeat and times its answer.
func Heartbeat() Step {
	return Step{name: "heartbeat", kind: kindRequest, run: func(ctx context.Context, p *Player) (*wire.Message, error) {
		return p.c.RoundTrip(ctx, &wire.Message{CmdCode: wire.CmdHeartbeat})
	}}
}

// Think is a step that pauses the player for d.
func Think(d time.Duration) Step {
	return Step{name: "think", kind: kindOther, run: func(_ context.Context, p *Player) (*wire.Message, error) {
		p.sleep(d)
		return nil, nil
	}}
}

// ThinkRandom is a step that pauses the player for a uniformly random
// duration in [lo, hi].
func ThinkRandom(lo, hi time.Duration) Step {
	st := Think(0)
	if hi < lo {
		st.err = fmt.Errorf("think time: max %v below min %v", hi, lo)
		return st
	}
	st.run = func(_ context.Context, p *Player) (*wire.Message, error) {
		p.sleep(lo + time.Duration(p.Rand.Int64N(int64(hi-lo)+1)))
		return nil, nil
	}
	return st
}

// ExpectPush is a step that waits up to timeout for a push on route
// (cmd, sub). Pushes on other routes that arrive meanwhile are counted and
// skipped. No push in time counts as error CodePushTimeout.
func ExpectPush(cmd, sub int32, timeout time.Duration) Step {
	want := wire.Merge(cmd, sub)
	return Step{name: fmt.Sprintf("push %d-%d", cmd, sub), kind: kindOther, run: func(ctx context.Context, p *Player) (*wire.Message, error) {
		t := time.NewTimer(timeout)
		defer t.Stop()
		for {
			select {
			case m, ok := <-p.c.Pushes():
				if !ok {
					return nil, &stepError{code: CodeConn, err: p.c.Err()}
				}
				p.pushes++
				if m.CmdMerge == want {
					p.LastPush = m
					return nil, nil
				}
			case <-t.C:
				return nil, &stepError{code: CodePushTimeout, err: fmt.Errorf("no push on %d-%d within %v", cmd, sub, timeout)}
			case <-ctx.Done():
				return nil, nil // the run is ending: not an error
			}
		}
	}}
}

// Do is a step that runs fn: custom logic between requests, such as
// computing the next request from the last response. An error from fn
// counts as an assertion failure (use errs.Error for a code of its own).
// Its time is not recorded as a request.
func Do(name string, fn func(ctx context.Context, p *Player) error) Step {
	st := Step{name: name, kind: kindOther}
	if fn == nil {
		st.err = errors.New("nil function")
		return st
	}
	st.run = func(ctx context.Context, p *Player) (*wire.Message, error) { return nil, fn(ctx, p) }
	return st
}

// Player is one simulated player. Its methods and fields are for the
// player's own steps, which run one at a time on the player's goroutine.
type Player struct {
	// ID numbers the players of a run from 0.
	ID int
	// Iteration counts the loop iterations begun, from 0; it is -1 during
	// Setup.
	Iteration int
	// Rand is the player's own random source.
	Rand *rand.Rand
	// LastPush is the push matched by the last ExpectPush step.
	LastPush *wire.Message

	c       *client.Client
	run     *runner
	buf     []byte
	lastReq any
	values  map[string]any
	timer   *time.Timer
	pushes  int64 // pushes consumed by ExpectPush steps
	nextReq time.Time
}

// Client returns the player's connection.
func (p *Player) Client() *client.Client { return p.c }

// Set stores a value for the player's later steps (a user ID after login).
func (p *Player) Set(key string, v any) {
	if p.values == nil {
		p.values = make(map[string]any)
	}
	p.values[key] = v
}

// Get returns a value stored with Set, nil if none.
func (p *Player) Get(key string) any { return p.values[key] }

// sleep pauses for d, or less if the run stops meanwhile.
func (p *Player) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	if p.timer == nil {
		p.timer = time.NewTimer(d)
	} else {
		p.timer.Reset(d)
	}
	select {
	case <-p.timer.C:
	case <-p.run.stop:
		p.timer.Stop()
	}
}

// Error codes that the simulator reports beside the servers' numeric
// status codes.
const (
	CodeDial        = "dial"         // the player could not connect
	CodeConn        = "conn"         // the connection failed during the run
	CodeTimeout     = "timeout"      // no response within the request timeout
	CodeAssert      = "assert"       // a check rejected a response
	CodeEncode      = "encode"       // the request could not be encoded
	CodeDecode      = "decode"       // the response could not be decoded
	CodePushTimeout = "push-timeout" // an expected push did not come
)

// stepError is a failure with the code it is reported under.
type stepError struct {
	code string
	err  error
}

func (e *stepError) Error() string { return e.code + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// classify returns the report code of a step failure and whether the
// player can go on.
func classify(err error) (code string, fatal bool) {
	var se *stepError
	var ee *errs.Error
	switch {
	case errors.As(err, &se):
		return se.code, se.code == CodeConn
	case errors.Is(err, context.DeadlineExceeded):
		return CodeTimeout, false
	case errors.Is(err, client.ErrClosed):
		return CodeConn, true
	case errors.As(err, &ee):
		return fmt.Sprint(ee.Code), false
	}
	return CodeAssert, false
}
