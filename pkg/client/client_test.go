package client

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/internal/kcpcookie"
	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/xtaci/kcp-go/v5"
	"go.uber.org/goleak"
)

// kcp-go starts its timer scheduler's goroutines when the package loads.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).sched"),
		goleak.IgnoreAnyFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).prepend"),
	)
}

// peer is the server side of one connection in a fake external server.
type peer struct {
	recv  func() (*wire.Message, error)
	send  func(*wire.Message) error
	close func()
}

// fakeServer accepts connections and hands each to the test as a peer.
type fakeServer struct {
	url   string
	peers chan *peer
}

func (s *fakeServer) accept(t *testing.T) *peer {
	t.Helper()
	select {
	case p := <-s.peers:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no connection")
		return nil
	}
}

func startTCP(t *testing.T) *fakeServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveFramed(t, "tcp", ln)
}

// serveFramed accepts length-prefixed streams (TCP, KCP) on ln and hands
// each to the test as a peer.
func serveFramed(t *testing.T, scheme string, ln net.Listener) *fakeServer {
	s := &fakeServer{url: scheme + "://" + ln.Addr().String(), peers: make(chan *peer, 4)}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, conn)
			fr := wire.NewFrameReader(conn, 0)
			s.peers <- &peer{
				recv: func() (*wire.Message, error) {
					b, err := fr.Next()
					if err != nil {
						return nil, err
					}
					m := new(wire.Message)
					err = m.UnmarshalProto(append([]byte(nil), b...))
					return m, err
				},
				send: func(m *wire.Message) error {
					b, _ := wire.AppendFrame(nil, wire.Protobuf{}, m)
					_, err := conn.Write(b)
					return err
				},
				close: func() { _ = conn.Close() },
			}
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return s
}

func startWS(t *testing.T) *fakeServer {
	s := &fakeServer{peers: make(chan *peer, 4)}
	up := fws.Upgrader{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		s.peers <- &peer{
			recv: func() (*wire.Message, error) {
				_, b, err := conn.ReadMessage()
				if err != nil {
					return nil, err
				}
				m := new(wire.Message)
				return m, m.UnmarshalProto(b)
			},
			send:  func(m *wire.Message) error { return conn.WriteMessage(fws.BinaryMessage, m.AppendProto(nil)) },
			close: func() { _ = conn.Close() },
		}
	}))
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
	})
	s.url = "ws" + strings.TrimPrefix(hs.URL, "http") + "/websocket"
	return s
}

// startKCP serves KCP sessions with the same framing as TCP.
// startKCP serves KCP behind the gate's cookie guard, as the gate does.
func startKCP(t *testing.T) *fakeServer {
	uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	g := kcpcookie.NewGuard(uc, kcpcookie.GuardConfig{})
	ln, err := kcp.ServeConn(nil, 0, 0, g)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() }) // ServeConn's listener leaves it open
	return serveFramed(t, "kcp", ln)
}

// startPlainKCP serves plain KCP, as a gate with KCPPlain does.
func startPlainKCP(t *testing.T) *fakeServer {
	ln, err := kcp.ListenWithOptions("127.0.0.1:0", nil, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	srv := serveFramed(t, "kcp", ln)
	srv.url += "?plain=true"
	return srv
}

var transports = []struct {
	name  string
	start func(*testing.T) *fakeServer
}{
	{"tcp", startTCP},
	{"ws", startWS},
}

func dialT(t *testing.T, url string, opts ...Option) *Client {
	t.Helper()
	c, err := Dial(ctxT(t), url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestOutOfOrderResponses(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			srv := tr.start(t)
			c := dialT(t, srv.url)
			p := srv.accept(t)
			const n = 5
			type result struct {
				sent string
				got  *wire.Message
				err  error
			}
			results := make(chan result, n)
			for i := range n {
				go func() {
					data := string(rune('a' + i))
					m, err := c.Request(ctxT(t), 1, 2, []byte(data))
					results <- result{data, m, err}
				}()
			}
			var reqs []*wire.Message
			for range n {
				reqs = append(reqs, must[*wire.Message](t)(p.recv()))
			}
			for i := n - 1; i >= 0; i-- {
				r := reqs[i]
				if r.CmdCode != wire.CmdBusiness || r.CmdMerge != wire.Merge(1, 2) || r.MsgID == 0 {
					t.Fatalf("request %+v", r)
				}
				_ = p.send(&wire.Message{CmdCode: 1, CmdMerge: r.CmdMerge, MsgID: r.MsgID, Data: r.Data})
			}
			for range n {
				r := <-results
				if r.err != nil || string(r.got.Data) != r.sent {
					t.Fatalf("sent %q, got %+v, %v", r.sent, r.got, r.err)
				}
			}
		})
	}
}

func TestCall(t *testing.T) {
	srv := startTCP(t)
	c := dialT(t, srv.url)
	p := srv.accept(t)
	in := must[wire.Value[int64]](t)(wire.ValueOf[int64]())
	out := must[wire.Value[string]](t)(wire.ValueOf[string]())
	go func() {
		for {
			r, err := p.recv()
			if err != nil {
				return
			}
			n, _ := in.Unmarshal(r.Data, wire.Protobuf{})
			resp := &wire.Message{CmdCode: 1, CmdMerge: r.CmdMerge, MsgID: r.MsgID}
			if n < 0 {
				resp.Status, resp.ValidMsg = 1001, "negative"
			} else {
				resp.Data, _ = out.Append(nil, wire.Protobuf{}, strings.Repeat("x", int(n)))
			}
			_ = p.send(resp)
		}
	}()
	tests := []struct {
		name string
		n    int64
		want string
		code int32
	}{
		{"value", 3, "xxx", 0},
		{"zero", 0, "", 0},
		{"error status", -1, "", 1001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Call[int64, string](ctxT(t), c, 1, 0, tt.n)
			if tt.code != 0 {
				if !errors.Is(err, errs.New(tt.code, "")) || err.(*errs.Error).Msg != "negative" {
					t.Fatalf("err %v, want code %d", err, tt.code)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestHeartbeat(t *testing.T) {
	srv := startWS(t)
	c := dialT(t, srv.url)
	p := srv.accept(t)
	go func() {
		r, err := p.recv()
		if err == nil {
			_ = p.send(&wire.Message{CmdCode: wire.CmdHeartbeat, MsgID: r.MsgID})
		}
	}()
	if err := c.Heartbeat(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestPushes(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			srv := tr.start(t)
			c := dialT(t, srv.url, WithPushBuffer(2))
			p := srv.accept(t)
			for i := range 4 {
				_ = p.send(&wire.Message{CmdCode: 1, CmdMerge: wire.Merge(9, int32(i))})
			}
			go func() {
				r, err := p.recv()
				if err == nil {
					_ = p.send(&wire.Message{CmdCode: 1, MsgID: r.MsgID})
				}
			}()
			// The response follows the pushes on the stream: once it is in,
			// all four pushes were handled, two kept and two dropped.
			if _, err := c.Request(ctxT(t), 1, 1, nil); err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				if m := <-c.Pushes(); m.CmdMerge != wire.Merge(9, int32(i)) {
					t.Fatalf("push %d: %+v", i, m)
				}
			}
			if n := c.DroppedPushes(); n != 2 {
				t.Fatalf("dropped %d, want 2", n)
			}
			_ = c.Close()
			if _, ok := <-c.Pushes(); ok {
				t.Fatal("Pushes not closed after Close")
			}
		})
	}
}

func TestContextAndClose(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			srv := tr.start(t)
			c := dialT(t, srv.url)
			p := srv.accept(t)

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			if _, err := c.Request(ctx, 1, 1, nil); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got %v, want deadline exceeded", err)
			}
			r := must[*wire.Message](t)(p.recv())
			_ = p.send(&wire.Message{CmdCode: 1, MsgID: r.MsgID}) // too late: ignored
			c.mu.Lock()
			n := len(c.calls)
			c.mu.Unlock()
			if n != 0 {
				t.Fatalf("%d calls left after cancel", n)
			}

			errc := make(chan error, 1)
			go func() {
				_, err := c.Request(context.Background(), 1, 1, nil)
				errc <- err
			}()
			must[*wire.Message](t)(p.recv()) // in flight, never answered
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; !errors.Is(err, ErrClosed) {
				t.Fatalf("in-flight request: %v, want ErrClosed", err)
			}
			if _, err := c.Request(ctxT(t), 1, 1, nil); !errors.Is(err, ErrClosed) {
				t.Fatalf("request after Close: %v", err)
			}
			if err := c.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
		})
	}
}

func TestServerCloses(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			srv := tr.start(t)
			c := dialT(t, srv.url)
			srv.accept(t).close()
			select {
			case <-c.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("Done not closed")
			}
			if c.Err() == nil || errors.Is(c.Err(), ErrClosed) {
				t.Fatalf("Err() = %v, want the read error", c.Err())
			}
			if _, err := c.Request(ctxT(t), 1, 1, nil); err == nil {
				t.Fatal("request on a closed connection succeeded")
			}
		})
	}
}

func TestSendRaw(t *testing.T) {
	srv := startTCP(t)
	c := dialT(t, srv.url)
	p := srv.accept(t)
	frame, _ := wire.AppendFrame(nil, wire.Protobuf{}, &wire.Message{CmdCode: 1, MsgID: 77})
	if err := c.SendRaw(frame); err != nil {
		t.Fatal(err)
	}
	if m := must[*wire.Message](t)(p.recv()); m.MsgID != 77 {
		t.Fatalf("got %+v", m)
	}
}

func TestMsgIDs(t *testing.T) {
	c := &Client{calls: make(map[int32]chan *wire.Message), nextID: math.MaxInt32 - 1}
	c.calls[1] = nil // still in flight from before the wrap
	var got []int32
	for range 3 {
		id, err := c.register(nil)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	want := []int32{math.MaxInt32, 2, 3}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ids %v, want %v", got, want)
		}
	}
}

func TestDialErrors(t *testing.T) {
	tests := []struct {
		name, url string
	}{
		{"scheme", "http://127.0.0.1:1/"},
		{"codec", "tcp://127.0.0.1:1?codec=xml"},
		{"refused tcp", "tcp://127.0.0.1:1"},
		{"refused ws", "ws://127.0.0.1:1/websocket"},
		{"bad url", "::"},
		{"kcp plain", "kcp://127.0.0.1:1?plain=maybe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := Dial(ctxT(t), tt.url); err == nil {
				_ = c.Close()
				t.Fatal("Dial succeeded")
			}
		})
	}
}

// TestKCP makes requests over KCP, with the cookie exchange and plain:
// the server sees the session with the first envelope, and responses and
// pushes come back on the same length-prefixed stream as TCP.
func TestKCP(t *testing.T) {
	for _, tt := range []struct {
		name  string
		start func(*testing.T) *fakeServer
	}{{"guarded", startKCP}, {"plain", startPlainKCP}} {
		t.Run(tt.name, func(t *testing.T) { testKCP(t, tt.start(t)) })
	}
}

func testKCP(t *testing.T, srv *fakeServer) {
	c := dialT(t, srv.url)
	if a, ok := c.LocalAddr().(*net.UDPAddr); !ok || a.Port == 0 {
		t.Fatalf("LocalAddr() = %v, want the UDP socket's", c.LocalAddr())
	}
	big := make([]byte, 64<<10) // many KCP segments
	for i := range big {
		big[i] = byte(i)
	}
	type result struct {
		m   *wire.Message
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := c.Request(ctxT(t), 1, 2, big)
		done <- result{m, err}
	}()
	p := srv.accept(t)
	r := must[*wire.Message](t)(p.recv())
	if err := p.send(&wire.Message{CmdCode: 1, CmdMerge: wire.Merge(9, 9), Data: []byte("push")}); err != nil {
		t.Fatal(err)
	}
	if err := p.send(&wire.Message{CmdCode: 1, CmdMerge: r.CmdMerge, MsgID: r.MsgID, Data: r.Data}); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	resp := res.m
	if resp.CmdMerge != wire.Merge(1, 2) || string(resp.Data) != string(big) {
		t.Fatalf("response route %d, %d bytes", resp.CmdMerge, len(resp.Data))
	}
	if m := <-c.Pushes(); string(m.Data) != "push" {
		t.Fatalf("push %+v", m)
	}
}

// TestWithHeartbeat: the client beats on its own, the answers (MsgID 0)
// are not pushes, and Close stops the beating goroutine.
func TestWithHeartbeat(t *testing.T) {
	srv := startTCP(t)
	c := dialT(t, srv.url, WithHeartbeat(5*time.Millisecond))
	p := srv.accept(t)
	for range 3 {
		m := must[*wire.Message](t)(p.recv())
		if m.CmdCode != wire.CmdHeartbeat || m.MsgID != 0 {
			t.Fatalf("got %+v, want a heartbeat", m)
		}
		if err := p.send(&wire.Message{CmdCode: wire.CmdHeartbeat}); err != nil {
			t.Fatal(err)
		}
	}
	// A push sent after the answers arrives first on Pushes.
	if err := p.send(&wire.Message{CmdCode: 1, CmdMerge: wire.Merge(3, 3)}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-c.Pushes():
		if m.CmdMerge != wire.Merge(3, 3) {
			t.Fatalf("push %+v: a heartbeat answer leaked into Pushes", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no push")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestNoticeInErr: an error envelope with MsgID 0 (the gate's idle
// timeout) is a push, and the error of the connection's end wraps it.
func TestNoticeInErr(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			srv := tr.start(t)
			c := dialT(t, srv.url)
			p := srv.accept(t)
			_ = p.send(&wire.Message{CmdCode: wire.CmdHeartbeat, Status: errs.CodeIdleTimeout, ValidMsg: "idle timeout"})
			p.close()
			<-c.Done()
			if m, ok := <-c.Pushes(); !ok || m.Status != errs.CodeIdleTimeout {
				t.Fatalf("push %+v, %v", m, ok)
			}
			if !errors.Is(c.Err(), errs.ErrIdleTimeout) {
				t.Fatalf("Err() = %v, want idle timeout", c.Err())
			}
		})
	}
}

// TestSend: a request/void send returns at once; an error answer for it,
// and a late answer nobody waits for, arrive on Pushes.
func TestSend(t *testing.T) {
	srv := startTCP(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, srv.url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := srv.accept(t)
	id, err := c.Send(ctx, 2, 4, []byte("x"))
	if err != nil || id <= 0 {
		t.Fatalf("Send = %d, %v", id, err)
	}
	got, err := p.recv()
	if err != nil || got.MsgID != id || got.CmdMerge != wire.Merge(2, 4) || string(got.Data) != "x" {
		t.Fatalf("server got %+v, %v", got, err)
	}
	// The route fails: its error answer reaches Pushes with the Send's MsgID.
	if err := p.send(&wire.Message{CmdCode: 1, CmdMerge: got.CmdMerge, MsgID: id, Status: 9, ValidMsg: "no"}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-c.Pushes():
		if m.MsgID != id || m.Status != 9 {
			t.Fatalf("got %+v", m)
		}
	case <-ctx.Done():
		t.Fatal("error answer of Send not delivered")
	}
	cancel()
	if _, err := c.Send(ctx, 2, 4, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send with an ended context: %v", err)
	}
}
