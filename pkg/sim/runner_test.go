package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/wire"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// kcp-go, linked in by the client, starts its scheduler at init.
		goleak.IgnoreAnyFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).sched"),
		goleak.IgnoreAnyFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).prepend"),
	)
}

// Routes of the fake server.
var (
	routeEcho = wire.Merge(2, 1) // echoes the data
	routeFail = wire.Merge(9, 3) // answers status 7
	routePush = wire.Merge(9, 4) // answers, then pushes on 9-5
	routeMute = wire.Merge(9, 6) // never answers
	pushRoute = wire.Merge(9, 5)
)

// fakeServer is a TCP external server with fixed behaviour per route.
type fakeServer struct {
	url   string
	conns atomic.Int64
}

func startFake(t *testing.T) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{url: "tcp://" + ln.Addr().String()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			s.conns.Add(1)
			wg.Go(func() { s.serve(c) })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range open {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return s
}

func (s *fakeServer) serve(c net.Conn) {
	defer c.Close()
	fr := wire.NewFrameReader(c, 0)
	var out []byte
	for {
		b, err := fr.Next()
		if err != nil {
			return
		}
		var m wire.Message
		if err := m.UnmarshalProto(b); err != nil {
			return
		}
		resp := wire.Message{CmdCode: m.CmdCode, CmdMerge: m.CmdMerge, MsgID: m.MsgID, Data: m.Data}
		switch m.CmdMerge {
		case routeFail:
			resp.Status, resp.ValidMsg, resp.Data = 7, "no luck", nil
		case routeMute:
			continue
		}
		out, _ = wire.AppendFrame(out[:0], wire.Protobuf{}, &resp)
		if m.CmdMerge == routePush {
			out, _ = wire.AppendFrame(out, wire.Protobuf{}, &wire.Message{CmdCode: 1, CmdMerge: pushRoute})
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// echoScenario sends a 16-byte text to the fake server's echo route and
// checks that it comes back, as the built-in echo scenario does.
func echoScenario(t *testing.T) *Scenario {
	t.Helper()
	text := strings.Repeat("x", 16)
	step := Request("echo", 2, 1,
		func(*Player) string { return text },
		func(_ *Player, req, resp string) error {
			if resp != req {
				return fmt.Errorf("echo: sent %q, got %q", req, resp)
			}
			return nil
		})
	return &Scenario{Name: "echo", Loop: []Step{step}}
}

func TestRunIterations(t *testing.T) {
	srv := startFake(t)
	var progress atomic.Int64
	rep, err := Run(ctxT(t), Config{
		URL: srv.url, Scenario: echoScenario(t), Players: 8, Iterations: 50,
		Interval: 10 * time.Millisecond, Progress: func(Progress) { progress.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 400 || rep.Errors != 0 || rep.Connected != 8 {
		t.Fatalf("requests %d errors %d connected %d; %v", rep.Requests, rep.Errors, rep.Connected, rep.ErrorSamples)
	}
	if rep.Latency.Count != 400 || rep.Latency.P50MS <= 0 || rep.Latency.P999MS < rep.Latency.P50MS {
		t.Fatalf("latency %+v", rep.Latency)
	}
	if len(rep.Steps) != 1 || rep.Steps[0].Name != "echo" || rep.Steps[0].Requests != 400 {
		t.Fatalf("steps %+v", rep.Steps)
	}
	var inSeries int64
	for _, s := range rep.Series {
		inSeries += s.Requests
	}
	if inSeries != rep.Requests {
		t.Fatalf("series holds %d requests, report %d", inSeries, rep.Requests)
	}
	if srv.conns.Load() != 8 {
		t.Fatalf("%d connections", srv.conns.Load())
	}
}

func TestRunRequestBudget(t *testing.T) {
	srv := startFake(t)
	rep, err := Run(ctxT(t), Config{URL: srv.url, Scenario: echoScenario(t), Players: 4, Requests: 123})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 123 || rep.Errors != 0 {
		t.Fatalf("requests %d errors %d", rep.Requests, rep.Errors)
	}
}

func TestRunDurationAndRate(t *testing.T) {
	srv := startFake(t)
	began := time.Now()
	rep, err := Run(ctxT(t), Config{
		URL: srv.url, Scenario: echoScenario(t), Players: 2, Duration: 500 * time.Millisecond,
		Rate: 20, RampUp: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < 500*time.Millisecond || took > 5*time.Second {
		t.Fatalf("run took %v", took)
	}
	// 2 players at 20/s for about half a second: about 20 requests.
	if rep.Requests < 2 || rep.Requests > 30 || rep.Errors != 0 { // the cap is what counts
		t.Fatalf("requests %d errors %d", rep.Requests, rep.Errors)
	}
	if rep.SteadySeconds <= 0 || rep.SteadySeconds > rep.Seconds || rep.SteadyErrors != 0 {
		t.Fatalf("steady %v of %v s", rep.SteadySeconds, rep.Seconds)
	}
}

func TestRunErrors(t *testing.T) {
	srv := startFake(t)
	sc := &Scenario{Name: "mixed", Loop: []Step{
		Request[int32, bool]("fail", 9, 3, func(*Player) int32 { return 1 }, nil),
		Request[int32, bool]("fail-expected", 9, 3, func(*Player) int32 { return 1 }, nil).ExpectCode(7),
		Request("assert", 2, 1, func(p *Player) string { return "a" }, func(_ *Player, _, got string) error {
			return errors.New("never good enough")
		}),
		Request[bool, bool]("push", 9, 4, func(*Player) bool { return true }, nil),
		ExpectPush(9, 5, time.Second),
		ExpectPush(9, 5, 10*time.Millisecond), // no second push
		Do("custom", func(context.Context, *Player) error { return nil }),
	}}
	rep, err := Run(ctxT(t), Config{URL: srv.url, Scenario: sc, Players: 3, Iterations: 4})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"7": 12, CodeAssert: 12, CodePushTimeout: 12}
	if len(rep.ErrorsByCode) != len(want) {
		t.Fatalf("errors %v", rep.ErrorsByCode)
	}
	for c, n := range want {
		if rep.ErrorsByCode[c] != n {
			t.Fatalf("errors %v, want %v", rep.ErrorsByCode, want)
		}
	}
	if rep.ErrorSamples["7"] != "no luck" {
		t.Fatalf("samples %v", rep.ErrorSamples)
	}
	if rep.Requests != 48 || rep.Errors != 36 || rep.Pushes != 12 {
		t.Fatalf("requests %d errors %d pushes %d", rep.Requests, rep.Errors, rep.Pushes)
	}
	byName := map[string]StepReport{}
	for _, s := range rep.Steps {
		byName[s.Name] = s
	}
	if byName["fail-expected"].Errors != 0 || byName["fail"].Errors != 12 || byName["push 9-5#2"].Errors != 12 {
		t.Fatalf("steps %+v", rep.Steps)
	}
}

func TestRunTimeoutsAndDial(t *testing.T) {
	srv := startFake(t)
	sc := &Scenario{Name: "mute", Loop: []Step{Request[bool, bool]("mute", 9, 6, func(*Player) bool { return true }, nil)}}
	rep, err := Run(ctxT(t), Config{URL: srv.url, Scenario: sc, Players: 2, Iterations: 2, RequestTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ErrorsByCode[CodeTimeout] != 4 || rep.Requests != 0 {
		t.Fatalf("errors %v requests %d", rep.ErrorsByCode, rep.Requests)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	rep, err = Run(ctxT(t), Config{URL: "tcp://" + addr, Scenario: echoScenario(t), Players: 3, Iterations: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ErrorsByCode[CodeDial] != 3 || rep.Connected != 0 {
		t.Fatalf("errors %v connected %d", rep.ErrorsByCode, rep.Connected)
	}
}

func TestRunSetupFailureStopsPlayer(t *testing.T) {
	srv := startFake(t)
	sc := &Scenario{
		Name:  "setup",
		Setup: []Step{Request[int32, bool]("login", 9, 3, func(*Player) int32 { return 1 }, nil)},
		Loop:  []Step{Request[int32, int32]("echo", 2, 1, func(*Player) int32 { return 1 }, nil)},
	}
	rep, err := Run(ctxT(t), Config{URL: srv.url, Scenario: sc, Players: 2, Iterations: 5})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 2 || rep.ErrorsByCode["7"] != 2 {
		t.Fatalf("requests %d errors %v", rep.Requests, rep.ErrorsByCode)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	srv := startFake(t)
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	rep, err := Run(ctx, Config{
		URL: srv.url, Scenario: echoScenario(t), Players: 4, Duration: time.Hour, Interval: 10 * time.Millisecond,
		Progress: func(p Progress) {
			if p.Requests > 100 {
				once.Do(cancel)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests <= 100 || rep.Errors != 0 {
		t.Fatalf("requests %d errors %d %v", rep.Requests, rep.Errors, rep.ErrorSamples)
	}
}

func TestConfigErrors(t *testing.T) {
	good := echoScenario(t)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no url", Config{Scenario: good}},
		{"no scenario", Config{URL: "tcp://x:1"}},
		{"empty loop", Config{URL: "tcp://x:1", Scenario: &Scenario{Name: "x"}}},
		{"bad step type", Config{URL: "tcp://x:1", Scenario: &Scenario{Loop: []Step{Request[int, int]("x", 1, 1, func(*Player) int { return 0 }, nil)}}}},
		{"bad think", Config{URL: "tcp://x:1", Scenario: &Scenario{Loop: []Step{ThinkRandom(2, 1)}}}},
		{"negative players", Config{URL: "tcp://x:1", Scenario: good, Players: -1}},
		{"negative rate", Config{URL: "tcp://x:1", Scenario: good, Rate: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Run(ctxT(t), tt.cfg); err == nil {
				t.Fatal("Run accepted the config")
			}
		})
	}
	catalog := Catalog{"echo": {Build: func(Params) (*Scenario, error) { return echoScenario(t), nil }}}
	if _, err := catalog.Build("nope", Params{}); err == nil || !strings.Contains(err.Error(), "echo") {
		t.Fatalf("unknown scenario: %v", err)
	}
}

func sampleReport() *Report {
	return &Report{
		Scenario: "echo", URL: "ws://127.0.0.1:1/websocket?x=<y>", Players: 10, Connected: 10,
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Seconds: 3, Requests: 12345, Errors: 2,
		RPS: 4115, SteadyRPS: 4200, SteadySeconds: 2.5,
		Latency:      Latency{Count: 12345, MinMS: 0.1, MeanMS: 1.5, P50MS: 1.2, P90MS: 2.5, P99MS: 9.8, P999MS: 15, MaxMS: 1234},
		Steps:        []StepReport{{Name: "echo", Requests: 12345, Errors: 2}},
		ErrorsByCode: map[string]int64{"-1004": 1, CodeTimeout: 1},
		ErrorSamples: map[string]string{"-1004": "login <required>"},
		Series: []Sample{
			{T: 1, Requests: 4000, RPS: 4000, P50MS: 1, P90MS: 2, P99MS: 8, MaxMS: 20},
			{T: 2, Requests: 4300, Errors: 2, RPS: 4300, P50MS: 1.3, P90MS: 2.6, P99MS: 10, MaxMS: 1234},
			{T: 3, Requests: 4045, RPS: 4045, P50MS: 1.2, P90MS: 2.4, P99MS: 9, MaxMS: 30},
		},
	}
}

func TestReportText(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"12,345 requests", "2 errors", "4,115 req/s", "4,200 req/s", "p99 9.80ms", "p99.9 15.0ms",
		"max 1.23s", "min 100µs", "-1004", "login <required>", "STEP", "echo"} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
}

func TestReportJSON(t *testing.T) {
	var b bytes.Buffer
	in := sampleReport()
	if err := in.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"rps", "steady_rps", "latency", "errors_by_code", "series", "pushes"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	var out Report
	if err := json.Unmarshal(b.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.Latency.P999MS != 15 || out.ErrorsByCode["-1004"] != 1 || len(out.Series) != 3 || !out.Started.Equal(in.Started) {
		t.Fatalf("round trip lost data: %+v", out)
	}
}

func TestReportPlot(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WritePlot(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.HasPrefix(out, "<!DOCTYPE html>") || strings.Count(out, "<svg") != 2 || strings.Count(out, "<polyline") != 6 {
		t.Fatalf("plot structure:\n%s", out)
	}
	if strings.Contains(out, "<script") || strings.Contains(out, "src=") || strings.Contains(out, "href=") {
		t.Fatal("plot is not self-contained")
	}
	if strings.Contains(out, "<y>") || strings.Contains(out, "<required>") {
		t.Fatal("plot does not escape text")
	}
	// An empty run still renders.
	b.Reset()
	if err := (&Report{Scenario: "x"}).WritePlot(&b); err != nil || !strings.Contains(b.String(), "</svg>") {
		t.Fatalf("empty plot: %v", err)
	}
}

func TestNiceStep(t *testing.T) {
	tests := []struct{ raw, want float64 }{{0, 1}, {0.3, 0.5}, {1, 1}, {1.1, 2}, {3, 5}, {7, 10}, {1234, 2000}}
	for _, tt := range tests {
		if got := niceStep(tt.raw); got != tt.want {
			t.Errorf("niceStep(%v) = %v, want %v", tt.raw, got, tt.want)
		}
	}
}

func TestTick(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{{0, "0"}, {5, "5"}, {2.5, "2.5"}, {0.25, "0.25"}, {20000, "20k"}, {2500000, "2.5M"}, {1500, "1500"}}
	for _, tt := range tests {
		if got := tick(tt.v); got != tt.want {
			t.Errorf("tick(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}
