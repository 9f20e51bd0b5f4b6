package external

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/nats-io/nats.go"
)

func kcpURL(g *Server) string { return "kcp://" + g.KCPAddr().String() }

// withKCP turns KCP on, on a random port.
func withKCP(c *Config) { c.KCPAddr = "127.0.0.1:0" }

// transportURLs are the three transports of a gate started withKCP.
var transportURLs = []struct {
	name string
	url  func(*Server) string
}{
	{"tcp", tcpURL},
	{"ws", wsURL},
	{"kcp", kcpURL},
}

// waitSessions waits until the gate holds n sessions.
func waitSessions(t testing.TB, g *Server, n int) {
	t.Helper()
	waitFor(t, 5*time.Second, func() error {
		if got := g.Sessions(); got != n {
			return fmt.Errorf("%d sessions, want %d", got, n)
		}
		return nil
	})
}

// TestIdleTimeout: a silent connection gets -1003 (CmdCode 0, MsgID 0)
// and is closed; one that sends heartbeats outlives several timeouts.
func TestIdleTimeout(t *testing.T) {
	// Long enough that the beating client's heartbeats (every idle/4) arrive in
	// time on a loaded 2-core machine under -race.
	const idle = time.Second
	ns := runNATS(t)
	for _, tr := range transportURLs {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			g := startGate(t, ns, func(c *Config) { withKCP(c); c.IdleTimeout = idle })
			silent := dialT(t, tr.url(g))
			beating, err := client.Dial(ctxT(t), tr.url(g), client.WithHeartbeat(idle/4))
			if err != nil {
				t.Fatal(err)
			}
			defer beating.Close()
			// A KCP session exists from its first envelope on.
			for _, c := range []*client.Client{silent, beating} {
				if err := c.Heartbeat(ctxT(t)); err != nil {
					t.Fatal(err)
				}
			}
			start := time.Now()

			select {
			case m := <-silent.Pushes():
				want := wire.Message{CmdCode: wire.CmdHeartbeat, Status: errs.CodeIdleTimeout, ValidMsg: "idle timeout"}
				if !equalMsg(m, &want) {
					t.Fatalf("got %+v, want %+v", m, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no idle-timeout envelope")
			}
			if d := time.Since(start); d < idle-idle/4 {
				t.Fatalf("idle timeout after %v, configured %v", d, idle)
			}
			if tr.name != "kcp" { // KCP has no close handshake
				waitClosed(t, silent)
				if !errors.Is(silent.Err(), errs.ErrIdleTimeout) {
					t.Fatalf("Err() = %v, want idle timeout", silent.Err())
				}
			}
			waitSessions(t, g, 1)

			// The beating client outlives four timeouts in all.
			select {
			case <-beating.Done():
				t.Fatalf("heartbeating client closed: %v", beating.Err())
			case <-time.After(4*idle - time.Since(start)):
			}
			if err := beating.Heartbeat(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestWSPingKeepsAlive: WebSocket pings count as activity, and are
// answered with pongs.
func TestWSPingKeepsAlive(t *testing.T) {
	const idle = 600 * time.Millisecond // room for scheduling delays on a loaded machine
	ns := runNATS(t)
	g := startGate(t, ns, func(c *Config) { c.IdleTimeout = idle })
	conn, _, err := fws.DefaultDialer.DialContext(ctxT(t), wsURL(g), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pongs := make(chan struct{}, 64)
	conn.SetPongHandler(func(string) error { pongs <- struct{}{}; return nil })
	readErr := make(chan error, 1)
	go func() {
		_, _, err := conn.ReadMessage() // runs the pong handler; ends at close
		readErr <- err
	}()
	tick := time.NewTicker(idle / 4)
	defer tick.Stop()
	for end := time.Now().Add(3 * idle); time.Now().Before(end); <-tick.C {
		if err := conn.WriteControl(fws.PingMessage, []byte("p"), time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-readErr:
			t.Fatalf("closed while pinging: %v", err)
		default:
		}
	}
	if len(pongs) == 0 {
		t.Fatal("no pong")
	}
	if n := g.Sessions(); n != 1 {
		t.Fatalf("%d sessions", n)
	}
}

// TestIdleTimeoutConfig: 0 means the default, negative means off; and only
// deadline expiries count as timeouts.
func TestIdleTimeoutConfig(t *testing.T) {
	tests := []struct {
		name string
		in   time.Duration
		want time.Duration
	}{
		{"default", 0, DefaultIdleTimeout},
		{"set", time.Second, time.Second},
		{"off", -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Config{TCPAddr: ":0", IdleTimeout: tt.in}).withDefaults().IdleTimeout; got != tt.want {
				t.Fatalf("IdleTimeout %v, want %v", got, tt.want)
			}
		})
	}
	if !isTimeout(&net.OpError{Op: "read", Err: timeoutErr{}}) || isTimeout(errors.New("x")) || isTimeout(nil) {
		t.Fatal("isTimeout")
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestRequestsResetIdle: requests keep a connection alive as heartbeats do.
func TestRequestsResetIdle(t *testing.T) {
	const idle = 600 * time.Millisecond // room for scheduling delays on a loaded machine
	ns := runNATS(t)
	logic := connect(t, ns)
	respond(t, logic, 1, 1, echo)
	g := startGate(t, ns, func(c *Config) { c.IdleTimeout = idle })
	c := dialT(t, tcpURL(g))
	tick := time.NewTicker(idle / 4)
	defer tick.Stop()
	for end := time.Now().Add(3 * idle); time.Now().Before(end); <-tick.C {
		if resp, err := c.Request(ctxT(t), 1, 1, []byte("x")); err != nil || resp.Status != 0 {
			t.Fatalf("request: %+v, %v", resp, err)
		}
	}
	select {
	case <-c.Done():
		t.Fatalf("closed while sending requests: %v", c.Err())
	default:
	}
}

// TestRateLimit: requests over the limit are answered with ErrRateLimited
// without reaching the broker, heartbeats pass, the connection stays, and
// requests pass again once tokens refill.
func TestRateLimit(t *testing.T) {
	const burst = 5
	ns := runNATS(t)
	logic := connect(t, ns)
	var served atomic.Int64
	respond(t, logic, 1, 1, func(m *nats.Msg) (fabric.Reply, []byte, bool) {
		served.Add(1)
		return fabric.Reply{}, m.Data, true
	})
	g := startGate(t, ns, func(c *Config) {
		withKCP(c)
		c.RateLimit, c.RateBurst, c.RateCeiling = 20, burst, -1
	})
	for _, tr := range transportURLs {
		t.Run(tr.name, func(t *testing.T) {
			served.Store(0)
			c := dialT(t, tr.url(g))
			const n = 30
			results := make(chan *wire.Message, n)
			errc := make(chan error, n)
			for i := range n {
				go func() {
					m, err := c.Request(ctxT(t), 1, 1, []byte{byte(i)})
					if err != nil {
						errc <- err
						return
					}
					results <- m
				}()
			}
			var ok, limited int
			for range n {
				select {
				case err := <-errc:
					t.Fatal(err)
				case m := <-results:
					switch {
					case m.Status == 0 && len(m.Data) == 1:
						ok++
					case m.Status == ErrRateLimited.Code && m.ValidMsg == ErrRateLimited.Msg && m.CmdMerge == wire.Merge(1, 1):
						limited++
					default:
						t.Fatalf("unexpected response %+v", m)
					}
				}
			}
			// The burst passes, plus what refills (20/s) while the 30 arrive.
			if ok < burst || ok > burst+5 || limited != n-ok {
				t.Fatalf("%d served, %d limited", ok, limited)
			}
			if got := served.Load(); got != int64(ok) {
				t.Fatalf("the broker saw %d requests, %d were admitted", got, ok)
			}
			// Heartbeats are never limited.
			for range 2 * burst {
				if err := c.Heartbeat(ctxT(t)); err != nil {
					t.Fatal(err)
				}
			}
			// Tokens come back (one per 50 ms): the connection is still good.
			waitFor(t, 2*time.Second, func() error {
				m, err := c.Request(ctxT(t), 1, 1, []byte("again"))
				if err != nil {
					t.Fatal(err)
				}
				if m.Status != 0 {
					return fmt.Errorf("still limited: %+v", m)
				}
				return nil
			})
		})
	}
}

// TestRateCeiling: a client that keeps sending far over the limit is
// closed; its neighbours are not.
func TestRateCeiling(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	respond(t, logic, 1, 1, echo)
	g := startGate(t, ns, func(c *Config) { c.RateLimit, c.RateBurst, c.RateCeiling = 10, 2, 20 })
	good := dialT(t, wsURL(g))
	if err := good.Heartbeat(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{tcpURL(g), wsURL(g)} {
		t.Run(url[:2], func(t *testing.T) {
			bad := dialT(t, url)
			// The ceiling's bucket holds 20: the 21st envelope in a burst
			// closes the connection. Requests are sent raw, without waiting.
			var frames []byte
			for i := range 40 {
				m := wire.Message{CmdCode: wire.CmdBusiness, CmdMerge: wire.Merge(1, 1), MsgID: int32(i + 1)}
				if url[:2] == "ws" {
					if err := bad.SendRaw(m.AppendProto(nil)); err != nil {
						break // closed already
					}
					continue
				}
				frames, _ = wire.AppendFrame(frames, wire.Protobuf{}, &m)
			}
			if len(frames) > 0 {
				_ = bad.SendRaw(frames)
			}
			waitClosed(t, bad)
			if m, err := good.Request(ctxT(t), 1, 1, []byte("fine")); err != nil || string(m.Data) != "fine" {
				t.Fatalf("neighbour: %+v, %v", m, err)
			}
			waitSessions(t, g, 1)
		})
	}
}

func TestRateConfig(t *testing.T) {
	tests := []struct {
		name                string
		in                  Config
		limit, ceiling      float64
		burst               int
		soft, hard, invalid bool
	}{
		{name: "default", limit: DefaultRateLimit, burst: 2 * DefaultRateLimit, ceiling: 10 * DefaultRateLimit, soft: true, hard: true},
		{name: "fractional", in: Config{RateLimit: 0.3}, limit: 0.3, burst: 1, ceiling: 3, soft: true, hard: true},
		{name: "explicit", in: Config{RateLimit: 20, RateBurst: 3, RateCeiling: 30}, limit: 20, burst: 3, ceiling: 30, soft: true, hard: true},
		{name: "limit off", in: Config{RateLimit: -1}, limit: -1, burst: 0, ceiling: 0},
		{name: "ceiling only", in: Config{RateLimit: -1, RateCeiling: 50}, limit: -1, ceiling: 50, hard: true},
		{name: "ceiling off", in: Config{RateCeiling: -1}, limit: DefaultRateLimit, burst: 2 * DefaultRateLimit, ceiling: -1, soft: true},
		{name: "ceiling below limit", in: Config{RateLimit: 20, RateCeiling: 10}, invalid: true},
		{name: "ceiling below default limit", in: Config{RateCeiling: 50}, invalid: true},
		{name: "negative burst", in: Config{RateBurst: -1}, invalid: true},
		{name: "NaN", in: Config{RateLimit: nanf()}, invalid: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.in
			cfg.TCPAddr = ":0"
			if err := cfg.Validate(); (err != nil) != tt.invalid {
				t.Fatalf("Validate() = %v, want invalid=%v", err, tt.invalid)
			}
			if tt.invalid {
				return
			}
			d := cfg.withDefaults()
			if d.RateLimit != tt.limit || d.RateBurst != tt.burst || d.RateCeiling != tt.ceiling {
				t.Fatalf("limit %v burst %d ceiling %v", d.RateLimit, d.RateBurst, d.RateCeiling)
			}
			l := newLimiter(&d)
			if (l.soft != nil) != tt.soft || (l.ceiling != nil) != tt.hard {
				t.Fatalf("soft %v hard %v", l.soft != nil, l.ceiling != nil)
			}
		})
	}
}

func nanf() float64 { zero := 0.0; return zero / zero }

// TestLimiterVerdicts steps a limiter through time by hand.
func TestLimiterVerdicts(t *testing.T) {
	cfg := Config{RateLimit: 10, RateBurst: 2, RateCeiling: 20}
	l := newLimiter(&cfg)
	t0 := time.Now()
	var got []verdict
	for range 22 {
		got = append(got, l.check(t0))
	}
	// Two from the soft burst, then limited, until the ceiling's 20
	// tokens are spent.
	for i, v := range got {
		want := limited
		switch {
		case i < 2:
			want = admit
		case i >= 20:
			want = abusive
		}
		if v != want {
			t.Fatalf("verdict %d = %v, want %v (all: %v)", i, v, want, got)
		}
	}
	// 100 ms later one soft token is back (10/s), and two ceiling tokens.
	if v := l.check(t0.Add(100 * time.Millisecond)); v != admit {
		t.Fatalf("after refill: %v", v)
	}
}

// TestKCP: requests and pushes over KCP; a malformed or oversize frame
// closes only that session.
func TestKCP(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	respond(t, logic, 1, 1, echo)
	g := startGate(t, ns, func(c *Config) { withKCP(c); c.MaxFrame = 1024 })
	if g.KCPAddr() == nil || g.KCPAddr().Network() != "udp" {
		t.Fatalf("KCPAddr %v", g.KCPAddr())
	}
	good := dialT(t, kcpURL(g))
	payload := bytes.Repeat([]byte("kcp!"), 200) // more than one KCP segment
	if m, err := good.Request(ctxT(t), 1, 1, payload); err != nil || !bytes.Equal(m.Data, payload) {
		t.Fatalf("round trip: %+v, %v", m, err)
	}
	meta := fabric.Meta{Cmd: 2, Sub: 3}
	if err := logic.PublishMsg(&nats.Msg{Subject: fabric.PushAll, Header: meta.Header(), Data: []byte("all")}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-good.Pushes():
		if m.CmdMerge != wire.Merge(2, 3) || string(m.Data) != "all" {
			t.Fatalf("push %+v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no push over KCP")
	}
	tcp := dialT(t, tcpURL(g))

	frame := func(n uint32, body []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, n), body...)
	}
	tests := []struct {
		name string
		raw  []byte
	}{
		{"malformed protobuf", frame(3, []byte{0xff, 0xff, 0xff})},
		{"oversize", frame(2048, nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := dialT(t, kcpURL(g))
			if err := bad.Heartbeat(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			waitSessions(t, g, 3)
			if err := bad.SendRaw(tt.raw); err != nil {
				t.Fatal(err)
			}
			waitSessions(t, g, 2) // KCP has no close handshake: watch the gate
			for _, c := range []*client.Client{good, tcp} {
				if m, err := c.Request(ctxT(t), 1, 1, []byte(tt.name)); err != nil || string(m.Data) != tt.name {
					t.Fatalf("other client: %+v, %v", m, err)
				}
			}
		})
	}
}

// TestWSOversizeFragmented: a WebSocket message over MaxFrame is refused
// even when each of its frames is small; the client gets close code 1009
// and the other connections carry on.
func TestWSOversizeFragmented(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	respond(t, logic, 1, 1, echo)
	g := startGate(t, ns, func(c *Config) { c.MaxFrame = 1024 })
	good := dialT(t, tcpURL(g))
	d := fws.Dialer{WriteBufferSize: 256}
	conn, _, err := d.DialContext(ctxT(t), wsURL(g), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	w, err := conn.NextWriter(fws.BinaryMessage)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(bytes.Repeat([]byte{0x30}, 4096)) // 16 frames of 256 bytes
	_ = w.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = conn.ReadMessage()
	if !fws.IsCloseError(err, fws.CloseMessageTooBig) {
		t.Fatalf("read: %v, want close 1009", err)
	}
	if m, err := good.Request(ctxT(t), 1, 1, []byte("ok")); err != nil || string(m.Data) != "ok" {
		t.Fatalf("other client: %+v, %v", m, err)
	}
	waitSessions(t, g, 1)
}

// TestRandomBytesOnTCP writes junk to raw TCP connections: each ends only
// its own session and the gate keeps serving. FuzzGateTCP explores more.
func TestRandomBytesOnTCP(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	respond(t, logic, 1, 1, echo)
	g := startGate(t, ns, func(c *Config) { c.MaxFrame = 4096 })
	good := dialT(t, tcpURL(g))
	for i, junk := range gateSeeds() {
		t.Run(fmt.Sprint(i), func(t *testing.T) { hitGate(t, g, good, junk, true) })
	}
}

// gateSeeds are inputs for the gate-level junk tests: random bytes from a
// fixed seed, extreme length prefixes, valid frames followed by junk.
func gateSeeds() [][]byte {
	rnd := make([]byte, 8192)
	x := uint64(0x9e3779b97f4a7c15)
	for i := range rnd {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		rnd[i] = byte(x)
	}
	hb, _ := wire.AppendFrame(nil, wire.Protobuf{}, &wire.Message{MsgID: 1})
	req, _ := wire.AppendFrame(nil, wire.Protobuf{}, &wire.Message{CmdCode: 1, CmdMerge: wire.Merge(1, 1), MsgID: 2, Data: []byte("x")})
	unknown, _ := wire.AppendFrame(nil, wire.Protobuf{}, &wire.Message{CmdCode: 9, MsgID: 3})
	return [][]byte{
		nil,
		rnd[:1],
		rnd[:3],
		rnd[:64],
		rnd,
		{0xff, 0xff, 0xff, 0xff},
		{0x7f, 0xff, 0xff, 0xff, 1, 2, 3},
		{0, 0, 0, 0, 0, 0, 0, 0}, // two empty envelopes: heartbeats with MsgID 0
		append(append([]byte{}, hb...), rnd[:100]...),
		append(append(append([]byte{}, req...), unknown...), 0, 0, 0x10, 0),
		bytes.Repeat(hb, 50),
	}
}

// hitGate writes junk on a new TCP connection, half-closes it and reads
// until the gate closes its side; then good must still be served: a
// heartbeat, and with request a request through the broker.
func hitGate(t testing.TB, g *Server, good *client.Client, junk []byte, request bool) {
	t.Helper()
	conn, err := net.Dial("tcp", g.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(junk); err != nil {
		t.Fatal(err)
	}
	_ = conn.(*net.TCPConn).CloseWrite()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	for {
		_, err := conn.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the gate kept the connection open after its end")
			}
			break
		}
	}
	if err := good.Heartbeat(ctxT(t)); err != nil {
		t.Fatalf("other client: heartbeat: %v", err)
	}
	if !request {
		return
	}
	if m, err := good.Request(ctxT(t), 1, 1, []byte("alive")); err != nil || string(m.Data) != "alive" {
		t.Fatalf("other client: %+v, %v", m, err)
	}
}

// FuzzGateTCP sends fuzzed bytes to a gate over TCP. Run it with
// go test -run '^$' -fuzz FuzzGateTCP ./external/
func FuzzGateTCP(f *testing.F) {
	for _, s := range gateSeeds() {
		f.Add(s)
	}
	ns := runNATS(f)
	logic := connect(f, ns)
	respond(f, logic, 1, 1, echo)
	g := startGate(f, ns, func(c *Config) { c.MaxFrame = 4096; c.RateLimit = -1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	good, err := client.Dial(ctx, tcpURL(g))
	cancel()
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = good.Close() })
	// A fuzzing run outlives the test route's registry record (it has a
	// TTL and nobody renews it here), so the neighbour proves itself with
	// heartbeats, which the gate answers alone.
	f.Fuzz(func(t *testing.T, junk []byte) { hitGate(t, g, good, junk, false) })
}

func TestKCPConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
		mode string
	}{
		{"kcp only", Config{KCPAddr: ":0"}, true, KCPFast},
		{"normal mode", Config{KCPAddr: ":0", KCPMode: KCPNormal}, true, KCPNormal},
		{"unknown mode", Config{KCPAddr: ":0", KCPMode: "turbo"}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && tt.cfg.withDefaults().KCPMode != tt.mode {
				t.Fatalf("mode %q, want %q", tt.cfg.withDefaults().KCPMode, tt.mode)
			}
		})
	}
}

// TestKCPNormalModeAndShutdown: a gate in KCP's normal mode serves, and
// Shutdown ends its KCP sessions and releases the UDP port.
func TestKCPNormalModeAndShutdown(t *testing.T) {
	ns := runNATS(t)
	g, err := New(Config{KCPAddr: "127.0.0.1:0", KCPMode: KCPNormal, Brokers: []string{ns.ClientURL()}, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	c := dialT(t, kcpURL(g))
	if err := c.Heartbeat(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	addr := g.KCPAddr().String()
	if err := g.Shutdown(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if n := g.Sessions(); n != 0 {
		t.Fatalf("%d sessions after shutdown", n)
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("UDP port still held: %v", err)
	}
	_ = pc.Close()
}
