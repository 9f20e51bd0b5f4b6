package external

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/nats-io/nats.go"
	"github.com/pires/go-proxyproto"
)

func TestConfigEdge(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		fails bool
	}{
		{name: "zero", cfg: Config{TCPAddr: ":0"}},
		{name: "proxies", cfg: Config{TCPAddr: ":0", TrustedProxies: []string{"10.0.0.0/8", "127.0.0.1", " ::1 ", "fd00::/8"}}},
		{name: "limit", cfg: Config{TCPAddr: ":0", MaxConnsPerAddr: 3, HandshakeTimeout: -1}},
		{name: "negative limit", cfg: Config{TCPAddr: ":0", MaxConnsPerAddr: -1}, fails: true},
		{name: "bad proxy", cfg: Config{TCPAddr: ":0", TrustedProxies: []string{"proxy.local"}}, fails: true},
		{name: "bad prefix", cfg: Config{TCPAddr: ":0", TrustedProxies: []string{"10.0.0.0/33"}}, fails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err != nil) != tt.fails {
				t.Fatalf("Validate: %v, want failure %v", err, tt.fails)
			}
		})
	}
	if d := (Config{}).withDefaults().HandshakeTimeout; d != DefaultHandshakeTimeout {
		t.Fatalf("default HandshakeTimeout %v", d)
	}
}

func TestForwardedFor(t *testing.T) {
	e := newEdgeState(&Config{TrustedProxies: []string{"10.0.0.0/8", "127.0.0.1"}})
	tests := []struct {
		name   string
		values []string
		want   string // "" = none
	}{
		{name: "none"},
		{name: "one", values: []string{"203.0.113.7"}, want: "203.0.113.7"},
		{name: "rightmost untrusted", values: []string{"198.51.100.1, 203.0.113.7, 10.1.2.3"}, want: "203.0.113.7"},
		{name: "forged left part", values: []string{"1.2.3.4", "203.0.113.7,10.0.0.1"}, want: "203.0.113.7"},
		{name: "all trusted", values: []string{"10.0.0.9, 127.0.0.1"}, want: "10.0.0.9"},
		{name: "with port", values: []string{"203.0.113.7:5555"}, want: "203.0.113.7"},
		{name: "ipv6", values: []string{"[2001:db8::1]:80, 10.0.0.1"}, want: "2001:db8::1"},
		{name: "mapped", values: []string{"::ffff:203.0.113.7"}, want: "203.0.113.7"},
		{name: "garbage", values: []string{"203.0.113.7, unknown"}},
		{name: "garbage left of client", values: []string{"unknown, 203.0.113.7"}, want: "203.0.113.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var vs [][]byte
			for _, v := range tt.values {
				vs = append(vs, []byte(v))
			}
			ip, ok := e.forwardedFor(vs)
			got := ""
			if ok {
				got = ip.String()
			}
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAddrCounts(t *testing.T) {
	g := &Server{edge: newEdgeState(&Config{MaxConnsPerAddr: 2}), cfg: Config{Logger: testLogger()}}
	g.log = g.cfg.Logger
	admit := func(addr string) (func(), bool) {
		return g.admitAddr(netip.MustParseAddr(addr), "tcp")
	}
	r1, ok1 := admit("192.0.2.1")
	_, ok2 := admit("192.0.2.1")
	_, ok3 := admit("192.0.2.1")
	_, okOther := admit("192.0.2.2")
	if !ok1 || !ok2 || ok3 || !okOther {
		t.Fatalf("admitted %v %v %v, other %v", ok1, ok2, ok3, okOther)
	}
	r1()
	r1() // a second release does nothing
	if _, ok := admit("192.0.2.1"); !ok {
		t.Fatal("not admitted after a release")
	}
	if _, ok := admit("192.0.2.1"); ok {
		t.Fatal("a double release freed two slots")
	}
	// An IPv6 client counts by its /64.
	_, a := admit("2001:db8:1:2::1")
	_, b := admit("2001:db8:1:2:ffff::9")
	_, c := admit("2001:db8:1:2::3")
	_, d := admit("2001:db8:1:3::1")
	if !a || !b || c || !d {
		t.Fatalf("ipv6 admitted %v %v %v, other /64 %v", a, b, c, d)
	}
	if n := g.edge.refused[transportIndex("tcp")][refusedAddrLimit].Load(); n != 3 {
		t.Fatalf("%d refusals counted, want 3", n)
	}
}

// dialFrom opens a TCP connection to addr from the loopback address local
// (127.0.0.x), closed at the end of the test.
func dialFrom(t *testing.T, local string, addr net.Addr) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitEOF waits until the server has closed c: a read ends in EOF or a
// reset, after whatever the server sent before closing.
func waitEOF(t *testing.T, c net.Conn, within time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 512)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		if isTimeout(err) {
			t.Fatalf("connection from %s still open after %v", c.LocalAddr(), within)
		}
		return
	}
}

// tcpCall sends a business request for (cmd, sub) over a raw TCP
// connection and returns the reply's data.
func tcpCall(t *testing.T, c net.Conn, cmd, sub int32) string {
	t.Helper()
	b, err := wire.AppendFrame(nil, wire.Protobuf{}, &wire.Message{CmdCode: wire.CmdBusiness, CmdMerge: wire.Merge(cmd, sub), MsgID: 1})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	f, err := wire.NewFrameReader(c, wire.DefaultMaxFrame).Next()
	if err != nil {
		t.Fatal(err)
	}
	var m wire.Message
	if err := m.UnmarshalProto(f); err != nil {
		t.Fatal(err)
	}
	if m.Status != 0 {
		t.Fatalf("status %d %s", m.Status, m.ValidMsg)
	}
	return string(m.Data)
}

// wsDial upgrades a WebSocket connection from local (127.0.0.x) with the
// given headers; prefix, if any, is written first on the TCP connection
// (a PROXY header). It returns the HTTP status and, on success, the
// connection, closed at the end of the test.
func wsDial(t *testing.T, g *Server, local string, prefix []byte, hdr http.Header) (*fws.Conn, int) {
	t.Helper()
	d := fws.Dialer{
		HandshakeTimeout: 5 * time.Second,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
			c, err := nd.DialContext(ctx, network, addr)
			if err == nil && len(prefix) > 0 {
				_, err = c.Write(prefix)
			}
			return c, err
		},
	}
	c, resp, err := d.Dial(wsURL(g), hdr)
	if err != nil {
		if resp != nil {
			return nil, resp.StatusCode
		}
		return nil, 0
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, http.StatusSwitchingProtocols
}

// wsCall sends a business request over a WebSocket and returns the
// reply's data.
func wsCall(t *testing.T, c *fws.Conn, cmd, sub int32) string {
	t.Helper()
	m := wire.Message{CmdCode: wire.CmdBusiness, CmdMerge: wire.Merge(cmd, sub), MsgID: 1}
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := c.WriteMessage(fws.BinaryMessage, m.AppendProto(nil)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	var r wire.Message
	if err := r.UnmarshalProto(b); err != nil {
		t.Fatal(err)
	}
	if r.Status != 0 {
		t.Fatalf("status %d %s", r.Status, r.ValidMsg)
	}
	return string(r.Data)
}

// serveIP answers route 9-1 with the request's fabric.AttrIP.
func serveIP(t *testing.T, nc *nats.Conn) {
	respond(t, nc, 9, 1, func(m *nats.Msg) (fabric.Reply, []byte, bool) {
		meta, err := fabric.ParseMeta(m.Header)
		if err != nil {
			return fabric.Reply{}, []byte(err.Error()), true
		}
		v, _ := url.ParseQuery(meta.Attrs)
		return fabric.Reply{}, []byte(v.Get(fabric.AttrIP)), true
	})
}

func edgeCount(g *Server, transport string, reason int) uint64 {
	if reason < 0 {
		return g.edge.timeouts[transportIndex(transport)].Load()
	}
	return g.edge.refused[transportIndex(transport)][reason].Load()
}

// TestHandshakeTimeout: connections that never finish their handshake, on
// the WebSocket port (silent, or half an HTTP request) and on the TCP port
// (silent, or half a frame), are closed after HandshakeTimeout and
// counted; an upgraded WebSocket and a TCP session that sent its first
// frame stay open, quiet, well past it, whether or not the idle timeout
// is on.
func TestHandshakeTimeout(t *testing.T) {
	for _, tt := range []struct {
		name string
		idle time.Duration
	}{{"idle timeout on", 0}, {"idle timeout off", -1}} {
		t.Run(tt.name, func(t *testing.T) { testHandshakeTimeout(t, tt.idle) })
	}
}

func testHandshakeTimeout(t *testing.T, idle time.Duration) {
	ns := runNATS(t)
	nc := connect(t, ns)
	serveIP(t, nc)
	const hs = 300 * time.Millisecond
	g := startGate(t, ns, func(c *Config) { c.HandshakeTimeout, c.IdleTimeout = hs, idle })

	ws, code := wsDial(t, g, "127.0.0.1", nil, nil)
	if ws == nil {
		t.Fatalf("upgrade: HTTP %d", code)
	}
	tcpOK := dialFrom(t, "127.0.0.1", g.TCPAddr())
	tcpCall(t, tcpOK, 9, 1)

	start := time.Now()
	var hostile []net.Conn
	for range 3 {
		hostile = append(hostile, dialFrom(t, "127.0.0.1", g.WSAddr())) // silent
		half := dialFrom(t, "127.0.0.1", g.WSAddr())
		if _, err := half.Write([]byte("GET /websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")); err != nil {
			t.Fatal(err)
		}
		hostile = append(hostile, half)
		hostile = append(hostile, dialFrom(t, "127.0.0.1", g.TCPAddr())) // silent
		halfFrame := dialFrom(t, "127.0.0.1", g.TCPAddr())
		if _, err := halfFrame.Write([]byte{0, 0, 0, 10, 8}); err != nil {
			t.Fatal(err)
		}
		hostile = append(hostile, halfFrame)
	}
	for _, c := range hostile {
		waitEOF(t, c, 10*time.Second)
	}
	if time.Since(start) < hs {
		t.Fatalf("closed before the handshake timeout")
	}
	waitFor(t, 5*time.Second, func() error {
		if w, tc := edgeCount(g, "ws", -1), edgeCount(g, "tcp", -1); w != 6 || tc != 6 {
			return fmt.Errorf("handshake timeouts counted: ws %d tcp %d, want 6 each", w, tc)
		}
		return nil
	})
	// Both quiet sessions outlived the handshake timeout.
	if ip := wsCall(t, ws, 9, 1); ip != "127.0.0.1" {
		t.Fatalf("ws ip %q", ip)
	}
	if ip := tcpCall(t, tcpOK, 9, 1); ip != "127.0.0.1" {
		t.Fatalf("tcp ip %q", ip)
	}
}

// TestMaxConnsPerAddr: an address at its limit is refused on either
// transport, another address is not, and a closed connection frees its
// slot.
func TestMaxConnsPerAddr(t *testing.T) {
	ns := runNATS(t)
	nc := connect(t, ns)
	serveIP(t, nc)
	g := startGate(t, ns, func(c *Config) { c.MaxConnsPerAddr = 2 })

	a := dialFrom(t, "127.0.0.1", g.TCPAddr())
	ws, _ := wsDial(t, g, "127.0.0.1", nil, nil)
	if ws == nil {
		t.Fatal("second connection refused")
	}
	tcpCall(t, a, 9, 1)
	over := dialFrom(t, "127.0.0.1", g.TCPAddr())
	waitEOF(t, over, 5*time.Second)
	if c, _ := wsDial(t, g, "127.0.0.1", nil, nil); c != nil {
		t.Fatal("third connection over WebSocket upgraded")
	}
	other := dialFrom(t, "127.0.0.2", g.TCPAddr())
	if ip := tcpCall(t, other, 9, 1); ip != "127.0.0.2" {
		t.Fatalf("other address: ip %q", ip)
	}
	if n := edgeCount(g, "tcp", refusedAddrLimit) + edgeCount(g, "ws", refusedAddrLimit); n != 2 {
		t.Fatalf("%d refusals counted, want 2", n)
	}
	_ = a.Close()
	waitFor(t, 5*time.Second, func() error {
		c, err := net.Dial("tcp", g.TCPAddr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		b, _ := wire.AppendFrame(nil, wire.Protobuf{}, &wire.Message{CmdCode: wire.CmdHeartbeat})
		_ = c.SetDeadline(time.Now().Add(time.Second))
		if _, err := c.Write(b); err != nil {
			return err
		}
		_, err = wire.NewFrameReader(c, wire.DefaultMaxFrame).Next()
		return err
	})
}

// TestProxyProtocol: a PROXY v1 or v2 header from a trusted proxy names
// the client, on TCP and WebSocket, and that address is the session's
// AttrIP and is what the per-address limit counts; a header from an
// untrusted address, or a malformed one, closes the connection; a trusted
// proxy may also connect without one.
func TestProxyProtocol(t *testing.T) {
	ns := runNATS(t)
	nc := connect(t, ns)
	serveIP(t, nc)
	g := startGate(t, ns, func(c *Config) {
		c.TrustedProxies = []string{"127.0.0.2"}
		c.MaxConnsPerAddr = 1
	})
	header := func(version byte, src string) []byte {
		h := proxyproto.HeaderProxyFromAddrs(version,
			&net.TCPAddr{IP: net.ParseIP(src), Port: 40000}, &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 1})
		b, err := h.Format()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	send := func(c net.Conn, b []byte) {
		t.Helper()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}

	v1 := dialFrom(t, "127.0.0.2", g.TCPAddr())
	send(v1, header(1, "203.0.113.7"))
	if ip := tcpCall(t, v1, 9, 1); ip != "203.0.113.7" {
		t.Fatalf("v1: ip %q", ip)
	}
	v2 := dialFrom(t, "127.0.0.2", g.TCPAddr())
	send(v2, header(2, "2001:db8::7"))
	if ip := tcpCall(t, v2, 9, 1); ip != "2001:db8::7" {
		t.Fatalf("v2: ip %q", ip)
	}
	ws, code := wsDial(t, g, "127.0.0.2", header(2, "198.51.100.3"), nil)
	if ws == nil {
		t.Fatalf("ws behind PROXY: HTTP %d", code)
	}
	if ip := wsCall(t, ws, 9, 1); ip != "198.51.100.3" {
		t.Fatalf("ws: ip %q", ip)
	}
	// The limit (1) counts the named client, not the proxy.
	again := dialFrom(t, "127.0.0.2", g.TCPAddr())
	send(again, header(1, "203.0.113.7"))
	waitEOF(t, again, 5*time.Second)
	plain := dialFrom(t, "127.0.0.2", g.TCPAddr()) // the proxy itself, no header
	if ip := tcpCall(t, plain, 9, 1); ip != "127.0.0.2" {
		t.Fatalf("no header: ip %q", ip)
	}
	// From an untrusted address the header closes the connection.
	forged := dialFrom(t, "127.0.0.1", g.TCPAddr())
	send(forged, header(1, "203.0.113.99"))
	waitEOF(t, forged, 5*time.Second)
	if c, _ := wsDial(t, g, "127.0.0.1", header(2, "203.0.113.98"), nil); c != nil {
		t.Fatal("ws with a forged PROXY header upgraded")
	}
	bad := dialFrom(t, "127.0.0.2", g.TCPAddr())
	send(bad, []byte("PROXY TCP4 not-an-address\r\n"))
	waitEOF(t, bad, 5*time.Second)
	waitFor(t, 5*time.Second, func() error {
		got := [...]uint64{edgeCount(g, "tcp", refusedProxy), edgeCount(g, "ws", refusedProxy),
			edgeCount(g, "tcp", refusedProxyHeader), edgeCount(g, "tcp", refusedAddrLimit)}
		if got != [...]uint64{1, 1, 1, 1} {
			return fmt.Errorf("untrusted tcp/ws, bad header, limit: %v", got)
		}
		return nil
	})
	// A direct client that is not a proxy still connects.
	direct := dialFrom(t, "127.0.0.1", g.TCPAddr())
	if ip := tcpCall(t, direct, 9, 1); ip != "127.0.0.1" {
		t.Fatalf("direct: ip %q", ip)
	}
}

// TestForwardedHeaders: X-Forwarded-For and X-Real-IP name the client only
// when a trusted proxy sent them, and the named client is what the limit
// counts (HTTP 429 over it).
func TestForwardedHeaders(t *testing.T) {
	ns := runNATS(t)
	nc := connect(t, ns)
	serveIP(t, nc)
	g := startGate(t, ns, func(c *Config) {
		c.TrustedProxies = []string{"127.0.0.2/32"}
		c.MaxConnsPerAddr = 1
	})
	tests := []struct {
		name  string
		local string
		hdr   http.Header
		want  string // AttrIP; "" = refused with 429
	}{
		{name: "xff from proxy", local: "127.0.0.2", hdr: http.Header{"X-Forwarded-For": {"1.1.1.1, 203.0.113.7"}}, want: "203.0.113.7"},
		{name: "real ip from proxy", local: "127.0.0.2", hdr: http.Header{"X-Real-Ip": {"198.51.100.4"}}, want: "198.51.100.4"},
		{name: "xff from client ignored", local: "127.0.0.1", hdr: http.Header{"X-Forwarded-For": {"203.0.113.50"}}, want: "127.0.0.1"},
		{name: "same client again", local: "127.0.0.2", hdr: http.Header{"X-Forwarded-For": {"203.0.113.7"}}},
		{name: "proxy without header", local: "127.0.0.2", want: "127.0.0.2"},
	}
	parent := t // connections stay open until the end: the limit counts them
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, code := wsDial(parent, g, tt.local, nil, tt.hdr)
			if tt.want == "" {
				if c != nil || code != http.StatusTooManyRequests {
					t.Fatalf("HTTP %d, want 429", code)
				}
				return
			}
			if c == nil {
				t.Fatalf("HTTP %d", code)
			}
			if ip := wsCall(t, c, 9, 1); ip != tt.want {
				t.Fatalf("ip %q, want %q", ip, tt.want)
			}
		})
	}
}

// TestEdgeListenerClose: closing a PROXY-mode listener closes the
// connections still being prepared and ends its goroutines.
func TestEdgeListenerClose(t *testing.T) {
	g := &Server{edge: newEdgeState(&Config{TrustedProxies: []string{"127.0.0.1"}}),
		cfg: Config{HandshakeTimeout: time.Minute}, log: testLogger()}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := g.edgeListener(inner, "tcp")
	silent := dialFrom(t, "127.0.0.1", ln.Addr())
	accepted := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		accepted <- err
	}()
	_ = ln.Close()
	if err := <-accepted; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	_ = silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && isTimeout(err) {
		t.Fatalf("connection in preparation not closed: %v", err)
	}
}
