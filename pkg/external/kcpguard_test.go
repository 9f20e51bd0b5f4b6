package external

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/internal/kcpcookie"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/xtaci/kcp-go/v5"
)

// TestKCPGuard: a guarded gate serves the Go client, which does the cookie
// exchange, and ignores a plain KCP client; a gate with KCPPlain serves a
// plain one.
func TestKCPGuard(t *testing.T) {
	ns := runNATS(t)
	tests := []struct {
		name   string
		plain  bool   // the gate's KCPPlain
		query  string // the client's
		serves bool
	}{
		{"guarded gate, Go client", false, "", true},
		{"guarded gate, plain client", false, "?plain=true", false},
		{"plain gate, plain client", true, "?plain=true", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := startGate(t, ns, func(c *Config) { withKCP(c); c.KCPPlain = tt.plain })
			c := dialT(t, kcpURL(g)+tt.query)
			ctx := ctxT(t)
			if !tt.serves { // long enough for the answer it must not get
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
				defer cancel()
			}
			err := c.Heartbeat(ctx)
			if tt.serves && err != nil {
				t.Fatalf("heartbeat: %v", err)
			}
			if !tt.serves {
				if err == nil {
					t.Fatal("a plain KCP client was served by a guarded gate")
				}
				if n := g.Sessions(); n != 0 {
					t.Fatalf("%d sessions", n)
				}
			}
		})
	}
}

// TestKCPFirstFrameTimeout: a KCP session that sends no whole envelope
// within HandshakeTimeout is closed; one that did stays, with or without
// an idle timeout.
func TestKCPFirstFrameTimeout(t *testing.T) {
	ns := runNATS(t)
	for _, tt := range []struct {
		name string
		idle time.Duration
	}{{"idle timeout", 0}, {"no idle timeout", -1}} {
		t.Run(tt.name, func(t *testing.T) { testKCPFirstFrameTimeout(t, ns, tt.idle) })
	}
}

func testKCPFirstFrameTimeout(t *testing.T, ns *server.Server, idle time.Duration) {
	g := startGate(t, ns, func(c *Config) {
		withKCP(c)
		c.HandshakeTimeout = time.Second // room to see the stalled session first
		c.IdleTimeout = idle
	})
	good := dialT(t, kcpURL(g))
	if err := good.Heartbeat(ctxT(t)); err != nil {
		t.Fatal(err)
	}

	// A session that sends half a length prefix and nothing more.
	stalled := halfPrefixSession(t, g)
	defer stalled.Close()
	waitSessions(t, g, 2)
	waitSessions(t, g, 1) // the stalled one is closed...
	// ...after HandshakeTimeout, which the good one has outlived.
	if err := good.Heartbeat(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

// TestKCPIdleBeforeFirstFrame: with the handshake timeout off, a session
// with no first envelope gets the idle timeout (and its -1003).
func TestKCPIdleBeforeFirstFrame(t *testing.T) {
	ns := runNATS(t)
	g := startGate(t, ns, func(c *Config) {
		withKCP(c)
		c.IdleTimeout = 300 * time.Millisecond
		c.HandshakeTimeout = -1
	})
	s := halfPrefixSession(t, g)
	defer s.Close()
	_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got [4]byte
	if _, err := s.Read(got[:]); err != nil { // the idle envelope's length prefix
		t.Fatalf("no idle-timeout envelope: %v", err)
	}
	waitSessions(t, g, 0)
}

// BenchmarkKCPRoundTrip compares request round trips over KCP behind the
// cookie guard and plain (KCPPlain), one at a time and 16 in flight.
func BenchmarkKCPRoundTrip(b *testing.B) {
	ns := runNATS(b)
	nc, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	respond(b, nc, 1, 1, echo)
	payload := make([]byte, 32)
	for _, tt := range []struct {
		name  string
		plain bool
		query string
	}{{"guarded", false, ""}, {"plain", true, "?plain=true"}} {
		g := startGate(b, ns, func(c *Config) { withKCP(c); c.KCPPlain = tt.plain; c.RateLimit = -1 })
		b.Run(tt.name, func(b *testing.B) {
			c := dialT(b, kcpURL(g)+tt.query)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Request(ctx, 1, 1, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tt.name+"/pipelined", func(b *testing.B) {
			c := dialT(b, kcpURL(g)+tt.query)
			ctx := context.Background()
			b.ReportAllocs()
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Request(ctx, 1, 1, payload); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// TestKCPMaxConnsPerAddr: KCP sessions count against MaxConnsPerAddr once
// the guard has proven their address; one over the limit is closed.
func TestKCPMaxConnsPerAddr(t *testing.T) {
	ns := runNATS(t)
	g := startGate(t, ns, func(c *Config) { withKCP(c); c.MaxConnsPerAddr = 1 })
	first := dialT(t, kcpURL(g))
	if err := first.Heartbeat(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	second := dialT(t, kcpURL(g)) // from 127.0.0.1 too
	ctx, cancel := context.WithTimeout(ctxT(t), 300*time.Millisecond)
	defer cancel()
	if err := second.Heartbeat(ctx); err == nil {
		t.Fatal("a second KCP session from one address was served with MaxConnsPerAddr 1")
	}
	if n := g.Sessions(); n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}
	if err := first.Heartbeat(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

// halfPrefixSession opens a KCP session to g through the cookie exchange
// and sends half a length prefix: a session with no first envelope.
func halfPrefixSession(t *testing.T, g *Server) *kcp.UDPSession {
	t.Helper()
	raddr := g.KCPAddr().(*net.UDPAddr)
	uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	conv := kcpcookie.Conv()
	pc, err := kcpcookie.Handshake(ctxT(t), uc, raddr, conv)
	if err != nil {
		_ = uc.Close()
		t.Fatal(err)
	}
	s, err := kcp.NewConn4(conv, raddr, nil, 0, 0, true, pc)
	if err != nil {
		t.Fatal(err)
	}
	s.SetStreamMode(true)
	if _, err := s.Write([]byte{0, 0}); err != nil {
		_ = s.Close()
		t.Fatal(err)
	}
	return s
}
