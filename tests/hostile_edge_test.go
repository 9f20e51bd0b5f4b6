package tests

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/iogo-dev/iogo/proto/iohao"
	"google.golang.org/protobuf/proto"
)

// Hostile tests of the gate's edge (issue 13, item 3 and "a gate on the
// internet"): handshakes that never finish, too many connections from one
// address, and the client address a proxy names (PROXY protocol,
// X-Forwarded-For). Each runs a broker, testsvc and one `external` process.
//
// The gate's settings come from its environment variables (t.Setenv, which
// the child processes inherit), as in a compose file. A gate built before
// these settings existed ignores the variables and starts all the same, so
// each test fails against it on what it checks, not on a flag it does not
// know.

// edgeGate is a running gate for the edge tests.
type edgeGate struct {
	proc    *proc
	ws, tcp string // host:port
	wsURL   string
}

// startEdgeGate runs a broker, testsvc and a gate configured by env
// (IOGO_EXTERNAL_* variables).
func startEdgeGate(t *testing.T, env ...string) edgeGate {
	t.Helper()
	for i := 0; i+1 < len(env); i += 2 {
		t.Setenv(env[i], env[i+1])
	}
	b := startProc(t, "broker", "broker", "-host", "127.0.0.1", "-port", "-1", "-store", t.TempDir())
	startProc(t, "testsvc", "logic", "-brokers", b.ready["nats"], "-id", "edge-1")
	p := startProc(t, "external", "external", "-brokers", b.ready["nats"],
		"-ws", "127.0.0.1:0", "-tcp", "127.0.0.1:0", "-rate", "-1")
	return edgeGate{proc: p, ws: strings.TrimSuffix(strings.TrimPrefix(p.ready["ws"], "ws://"), "/websocket"),
		tcp: strings.TrimPrefix(p.ready["tcp"], "tcp://"), wsURL: p.ready["ws"]}
}

// dialTCPFrom connects to addr from the loopback address local; the
// connection is closed when the test ends.
func dialTCPFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: ioTimeout}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// dialWSFrom upgrades a WebSocket from the loopback address local with the
// given request headers, after writing prefix (a PROXY header) on the TCP
// connection. It returns nil and the HTTP status (0: no HTTP answer) when
// the upgrade fails.
func dialWSFrom(t *testing.T, g edgeGate, local string, prefix []byte, hdr http.Header) (*wsSpec, int) {
	t.Helper()
	d := websocket.Dialer{
		HandshakeTimeout: ioTimeout,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
			c, err := nd.DialContext(ctx, network, addr)
			if err == nil && len(prefix) > 0 {
				_, err = c.Write(prefix)
			}
			return c, err
		},
	}
	ws, resp, err := d.Dial(g.wsURL, hdr)
	if err != nil {
		if resp != nil {
			return nil, resp.StatusCode
		}
		return nil, 0
	}
	c := &wsSpec{conn: ws}
	t.Cleanup(c.close)
	return c, http.StatusSwitchingProtocols
}

// sessionIP asks testsvc (route 21-3) for the session's attributes and
// returns its ip (fabric.AttrIP).
func sessionIP(t *testing.T, c specConn) string {
	t.Helper()
	resp := request(t, c, cmdGate, gateAttrs, 7, nil)
	attrs := decode(t, resp, &iohao.StringValue{}).Value
	v, err := url.ParseQuery(attrs)
	if err != nil {
		t.Fatalf("attributes %q: %v", attrs, err)
	}
	return v.Get("ip")
}

// proxyV1 and proxyV2 build PROXY protocol headers (HAProxy's spec) for a
// TCP connection from src to dst, written out here from the spec rather
// than by the library the gate uses. Both addresses are of one family: an
// IPv6 src gets dst's port on ::1.
func proxyV1(src, dst netip.AddrPort) []byte {
	dst = sameFamily(src, dst)
	fam := "TCP4"
	if src.Addr().Is6() {
		fam = "TCP6"
	}
	return fmt.Appendf(nil, "PROXY %s %s %s %d %d\r\n", fam, src.Addr(), dst.Addr(), src.Port(), dst.Port())
}

func sameFamily(src, dst netip.AddrPort) netip.AddrPort {
	if src.Addr().Is6() && dst.Addr().Is4() {
		return netip.AddrPortFrom(netip.IPv6Loopback(), dst.Port())
	}
	return dst
}

func proxyV2(src, dst netip.AddrPort) []byte {
	dst = sameFamily(src, dst)
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	b = append(b, 0x21) // version 2, PROXY
	s, d := src.Addr().AsSlice(), dst.Addr().AsSlice()
	if src.Addr().Is4() {
		b = append(b, 0x11) // TCP over IPv4
	} else {
		b = append(b, 0x21) // TCP over IPv6
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)+len(d)+4))
	b = append(b, s...)
	b = append(b, d...)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, dst.Port())
}

// closedByServer reports whether the server has closed c: a read ends in
// EOF or a reset (whatever the server wrote first is skipped), not a
// timeout, within total.
func closedByServer(c net.Conn, total time.Duration) error {
	_ = c.SetReadDeadline(time.Now().Add(total))
	buf := make([]byte, 512)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("connection from %s still open after %v", c.LocalAddr(), total)
		}
		return nil
	}
}

// TestHostileEdgeHandshakes: 200 connections to the WebSocket port that
// never finish the upgrade (half silent, half stopping in the middle of
// the request headers) and 100 to the TCP port that never send a whole
// first frame (half silent, half stopping in a frame) are all closed by
// the gate soon after its handshake timeout (1 s here), and that is
// logged; an upgraded WebSocket and a TCP session that had been quiet all
// the while still work. On a gate without a handshake timeout they stay
// open (upgraded idle sockets close after -idle, 60 s; unfinished
// upgrades never).
func TestHostileEdgeHandshakes(t *testing.T) {
	g := startEdgeGate(t, "IOGO_EXTERNAL_HANDSHAKE_TIMEOUT", "1s", "IOGO_EXTERNAL_IDLE", "60s")
	ws, code := dialWSFrom(t, g, "127.0.0.1", nil, nil)
	if ws == nil {
		t.Fatalf("upgrade: HTTP %d", code)
	}
	tcp := &tcpSpec{conn: dialTCPFrom(t, "127.0.0.1", g.tcp)}
	tcp.r = bufio.NewReader(tcp.conn)
	if ip := sessionIP(t, ws); ip != "127.0.0.1" {
		t.Fatalf("ws session ip %q", ip)
	}
	sessionIP(t, tcp)

	const perKind = 100
	var hostile []net.Conn
	for i := range perKind {
		hostile = append(hostile, dialTCPFrom(t, "127.0.0.1", g.ws)) // silent
		half := dialTCPFrom(t, "127.0.0.1", g.ws)
		if _, err := fmt.Fprintf(half, "GET /websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nX-Slow-%d: ", i); err != nil {
			t.Fatal(err)
		}
		hostile = append(hostile, half)
		if i%2 == 0 {
			hostile = append(hostile, dialTCPFrom(t, "127.0.0.1", g.tcp)) // silent
		} else {
			frame := dialTCPFrom(t, "127.0.0.1", g.tcp)
			if _, err := frame.Write([]byte{0, 0, 0, 40, 0x08, 0x01}); err != nil { // 2 of 40 bytes
				t.Fatal(err)
			}
			hostile = append(hostile, frame)
		}
	}
	// Each connection is watched by a reader of its own: the gate closes
	// them about the same time.
	var closed atomic.Int32
	const bound = 15 * time.Second
	for _, c := range hostile {
		go func() {
			if closedByServer(c, bound+5*time.Second) == nil {
				closed.Add(1)
			}
		}()
	}
	waitUntil(t, bound, func() error {
		if n := closed.Load(); n != int32(len(hostile)) {
			return fmt.Errorf("%d of %d unfinished handshakes closed by the gate", n, len(hostile))
		}
		return nil
	})
	waitUntil(t, ioTimeout, func() error {
		if !strings.Contains(g.proc.log(), "no handshake within the handshake timeout") {
			return errors.New("the gate logged no handshake timeout")
		}
		return nil
	})
	// Quiet for longer than the handshake timeout, the real sessions live.
	if ip := sessionIP(t, ws); ip != "127.0.0.1" {
		t.Fatalf("ws session after the flood: ip %q", ip)
	}
	sessionIP(t, tcp)
}

// TestHostileEdgeAddrLimit: with at most 4 connections per address, a
// fifth from the same address is refused, on the TCP port and on the
// WebSocket port, while another address (127.0.0.2) still connects; a
// closed connection frees its slot.
func TestHostileEdgeAddrLimit(t *testing.T) {
	g := startEdgeGate(t, "IOGO_EXTERNAL_MAX_CONNS_PER_ADDR", "4")
	var held []specConn
	for i := range 4 {
		if i%2 == 0 {
			ws, code := dialWSFrom(t, g, "127.0.0.1", nil, nil)
			if ws == nil {
				t.Fatalf("connection %d: HTTP %d", i+1, code)
			}
			held = append(held, ws)
		} else {
			c := dialTCPFrom(t, "127.0.0.1", g.tcp)
			held = append(held, &tcpSpec{conn: c, r: bufio.NewReader(c)})
		}
		sessionIP(t, held[i])
	}
	// The fifth TCP connection from 127.0.0.1 gets no answer: the gate
	// closed it.
	over := dialTCPFrom(t, "127.0.0.1", g.tcp)
	m := &iohao.ExternalMessage{CmdCode: 0, MsgId: 1} // a heartbeat, answered by any gate
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	_ = (&tcpSpec{conn: over}).sendRaw(b) // may fail: the gate may have closed it already
	if err := closedByServer(over, ioTimeout); err != nil {
		t.Fatal(err)
	}
	if ws, code := dialWSFrom(t, g, "127.0.0.1", nil, nil); ws != nil {
		t.Fatalf("fifth WebSocket from one address upgraded (HTTP %d)", code)
	}
	other := dialTCPFrom(t, "127.0.0.2", g.tcp)
	if ip := sessionIP(t, &tcpSpec{conn: other, r: bufio.NewReader(other)}); ip != "127.0.0.2" {
		t.Fatalf("other address: session ip %q", ip)
	}
	waitUntil(t, ioTimeout, func() error {
		if !strings.Contains(g.proc.log(), "too many connections from one address") {
			return errors.New("the gate logged no refusal")
		}
		return nil
	})
	held[1].close()
	waitUntil(t, ioTimeout, func() error {
		c, err := net.DialTimeout("tcp", g.tcp, ioTimeout)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := (&tcpSpec{conn: c}).sendRaw(b); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = io.ReadFull(c, make([]byte, 4))
		return err
	})
}

// TestHostileEdgeProxy: the gate trusts 127.0.0.2 as a proxy. Its PROXY
// v1 and v2 headers (TCP and WebSocket ports) and its X-Forwarded-For and
// X-Real-IP headers name the client, which logic servers see as the
// session's ip and the per-address limit (1 here) counts; the same from
// 127.0.0.1 is refused (PROXY) or ignored (forwarding headers).
func TestHostileEdgeProxy(t *testing.T) {
	g := startEdgeGate(t, "IOGO_EXTERNAL_TRUSTED_PROXIES", "127.0.0.2", "IOGO_EXTERNAL_MAX_CONNS_PER_ADDR", "1")
	dst := netip.MustParseAddrPort(g.tcp)
	viaProxy := func(local, to string, header []byte) *tcpSpec {
		t.Helper()
		c := dialTCPFrom(t, local, to)
		if _, err := c.Write(header); err != nil {
			t.Fatal(err)
		}
		return &tcpSpec{conn: c, r: bufio.NewReader(c)}
	}
	client := func(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

	if ip := sessionIP(t, viaProxy("127.0.0.2", g.tcp, proxyV1(client("203.0.113.7:40001"), dst))); ip != "203.0.113.7" {
		t.Fatalf("PROXY v1 over TCP: session ip %q", ip)
	}
	if ip := sessionIP(t, viaProxy("127.0.0.2", g.tcp, proxyV2(client("[2001:db8::7]:40002"), dst))); ip != "2001:db8::7" {
		t.Fatalf("PROXY v2 over TCP: session ip %q", ip)
	}
	ws, code := dialWSFrom(t, g, "127.0.0.2", proxyV2(client("198.51.100.3:40003"), dst), nil)
	if ws == nil {
		t.Fatalf("PROXY v2 before a WebSocket upgrade: HTTP %d", code)
	}
	if ip := sessionIP(t, ws); ip != "198.51.100.3" {
		t.Fatalf("PROXY v2 over WebSocket: session ip %q", ip)
	}
	xff, code := dialWSFrom(t, g, "127.0.0.2", nil, http.Header{"X-Forwarded-For": {"10.9.9.9, 198.51.100.20"}})
	if xff == nil {
		t.Fatalf("X-Forwarded-For: HTTP %d", code)
	}
	if ip := sessionIP(t, xff); ip != "198.51.100.20" {
		t.Fatalf("X-Forwarded-For from the proxy: session ip %q", ip)
	}
	real, code := dialWSFrom(t, g, "127.0.0.2", nil, http.Header{"X-Real-Ip": {"198.51.100.21"}})
	if real == nil {
		t.Fatalf("X-Real-IP: HTTP %d", code)
	}
	if ip := sessionIP(t, real); ip != "198.51.100.21" {
		t.Fatalf("X-Real-IP from the proxy: session ip %q", ip)
	}

	// The limit counts the named client: 203.0.113.7 holds its one slot.
	again := viaProxy("127.0.0.2", g.tcp, proxyV1(client("203.0.113.7:40009"), dst))
	if err := closedByServer(again.conn, ioTimeout); err != nil {
		t.Fatalf("a second connection of the named client: %v", err)
	}
	if _, code := dialWSFrom(t, g, "127.0.0.2", nil, http.Header{"X-Forwarded-For": {"198.51.100.20"}}); code != http.StatusTooManyRequests {
		t.Fatalf("a second WebSocket of a forwarded client: HTTP %d, want 429", code)
	}

	// From an address that is not a trusted proxy: forwarding headers are
	// ignored, a PROXY header closes the connection.
	direct, code := dialWSFrom(t, g, "127.0.0.1", nil, http.Header{"X-Forwarded-For": {"198.51.100.66"}, "X-Real-Ip": {"198.51.100.67"}})
	if direct == nil {
		t.Fatalf("direct client: HTTP %d", code)
	}
	if ip := sessionIP(t, direct); ip != "127.0.0.1" {
		t.Fatalf("forwarding headers from a client were believed: session ip %q", ip)
	}
	direct.close() // frees 127.0.0.1's one slot
	waitUntil(t, ioTimeout, func() error {
		forged := viaProxy("127.0.0.1", g.tcp, proxyV1(client("203.0.113.99:40010"), dst))
		defer forged.close()
		if err := closedByServer(forged.conn, ioTimeout); err != nil {
			return fmt.Errorf("a PROXY header from a client: %w", err)
		}
		if !strings.Contains(g.proc.log(), "PROXY header from an untrusted address") {
			return errors.New("the gate logged no refusal of the forged PROXY header")
		}
		return nil
	})
}
