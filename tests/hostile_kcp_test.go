package tests

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/wire"
)

// Hostile tests of the gate's KCP transport (issue 13, items 4 and 5, and
// the KCP half of the first-frame deadline), against a real external
// process, with datagrams made by hand as an attacker would. The cookie
// exchange is spoken from docs/wire-protocol.md, not through pkg/client.

// kcpGate is an external process serving only KCP, and its metrics.
type kcpGate struct {
	addr    *net.UDPAddr
	metrics string // http://…/metrics
	proc    *proc
}

// startKCPGate runs a broker and a gate with only KCP and /metrics on.
func startKCPGate(t *testing.T, extra ...string) *kcpGate {
	t.Helper()
	url := startBroker(t)
	mport := freePorts(t, 1)[0]
	args := append([]string{"-brokers", url, "-ws", "", "-kcp", "127.0.0.1:0",
		"-metrics", fmt.Sprintf("127.0.0.1:%d", mport)}, extra...)
	p := startProc(t, "external", "external", args...)
	a, err := net.ResolveUDPAddr("udp", strings.TrimPrefix(p.ready["kcp"], "kcp://"))
	if err != nil {
		t.Fatalf("ready line %v: %v", p.ready, err)
	}
	return &kcpGate{addr: a, metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", mport), proc: p}
}

// metric reads the first sample of the gate's metric name whose labels
// contain label.
func (g *kcpGate) metric(name, label string) (int, error) {
	resp, err := http.Get(g.metrics)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+"{") && strings.Contains(line, label) {
			f := strings.Fields(line)
			return strconv.Atoi(f[len(f)-1])
		}
	}
	return 0, fmt.Errorf("no %s{%s} in /metrics", name, label)
}

// kcpSessions reads the gate's KCP session count from /metrics.
func (g *kcpGate) kcpSessions() (int, error) {
	return g.metric("iogo_gate_transport_sessions", `transport="kcp"`)
}

func (g *kcpGate) waitKCPSessions(t *testing.T, want int, within time.Duration) {
	t.Helper()
	waitUntil(t, within, func() error {
		n, err := g.kcpSessions()
		if err == nil && n != want {
			err = fmt.Errorf("%d KCP sessions, want %d", n, want)
		}
		return err
	})
}

// kcpSegment is a KCP datagram: conv, cmd, frg, wnd, ts, sn, una, len
// (little-endian), then data. kcpPush is KCP's data command.
func kcpSegment(conv uint32, sn uint32, data []byte) []byte {
	const kcpPush = 81
	b := binary.LittleEndian.AppendUint32(nil, conv)
	b = append(b, kcpPush, 0)
	b = binary.LittleEndian.AppendUint16(b, 128)
	b = binary.LittleEndian.AppendUint32(b, uint32(time.Now().UnixMilli()))
	b = binary.LittleEndian.AppendUint32(b, sn)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

// kcpHeartbeatSegment is the 30-byte datagram of the reflection probe: a KCP
// segment with sn 0 carrying one whole heartbeat envelope, which the gate
// on main answers (and retransmits, as nobody acknowledges it).
func kcpHeartbeatSegment(t *testing.T, conv uint32) []byte {
	t.Helper()
	frame, err := wire.AppendFrame(nil, wire.Protobuf{}, &wire.Message{CmdCode: wire.CmdHeartbeat, MsgID: 1})
	if err != nil {
		t.Fatal(err)
	}
	return kcpSegment(conv, 0, frame)
}

func kcpRandConv() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint32(b[:])
}

// Cookie exchange, as docs/wire-protocol.md describes it.
const (
	kcpHello  = 0xA1
	kcpCookie = 0xA2
	kcpData   = 0xA3
	kcpMagic  = "iogokcp"
)

func kcpHelloPacket(conv uint32, nonce [8]byte) []byte {
	b := append([]byte{kcpHello}, kcpMagic...)
	b = append(b, 1)
	b = binary.LittleEndian.AppendUint32(b, conv)
	b = append(b, nonce[:]...)
	return append(b, make([]byte, 64-len(b))...)
}

// kcpCookieOf returns the 12 bytes (ts, MAC) of a COOKIE answering conv and nonce.
func kcpCookieOf(b []byte, conv uint32, nonce [8]byte) ([]byte, bool) {
	if len(b) != 33 || b[0] != kcpCookie || string(b[1:8]) != kcpMagic || b[8] != 1 ||
		binary.LittleEndian.Uint32(b[9:]) != conv || [8]byte(b[13:21]) != nonce {
		return nil, false
	}
	return b[21:33], true
}

// kcpReceived is what one socket got from the gate in a window.
type kcpReceived struct {
	datagrams [][]byte
	bytes     int
}

// kcpListen collects what sock receives until the deadline.
func kcpListen(sock *net.UDPConn, until time.Time) (kcpReceived, error) {
	var r kcpReceived
	buf := make([]byte, 2048)
	_ = sock.SetReadDeadline(until)
	for {
		n, err := sock.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return r, nil
			}
			return r, err
		}
		r.datagrams = append(r.datagrams, append([]byte(nil), buf[:n]...))
		r.bytes += n
	}
}

// TestHostileKCPReflection (issue 13, item 4): a datagram from an address
// that has not proven itself gets back nothing larger than itself. Each
// probe stands for a spoofed source: the socket that sends it is the
// victim, which counts what the gate sends it over a few seconds (the
// gate on main kept retransmitting for the whole idle timeout).
func TestHostileKCPReflection(t *testing.T) {
	g := startKCPGate(t)
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	helloConv := kcpRandConv()
	probes := []struct {
		name    string
		payload []byte
		cookie  bool // expect exactly one COOKIE back, else nothing
	}{
		{name: "KCP heartbeat, sn 0 (30 bytes)", payload: kcpHeartbeatSegment(t, kcpRandConv())},
		{name: "KCP segment, 6 bytes of data", payload: kcpSegment(kcpRandConv(), 0, []byte("abcdef"))},
		{name: "DATA with a made-up cookie", payload: append(append([]byte{kcpData}, make([]byte, 12)...), kcpHeartbeatSegment(t, kcpRandConv())...)},
		{name: "short HELLO", payload: kcpHelloPacket(kcpRandConv(), nonce)[:40]},
		{name: "HELLO", payload: kcpHelloPacket(helloConv, nonce), cookie: true},
	}
	const window = 3 * time.Second // several of KCP's retransmission timeouts
	results := make([]kcpReceived, len(probes))
	errs := make([]error, len(probes))
	var wg sync.WaitGroup
	until := time.Now().Add(window)
	for i, p := range probes {
		sock, err := net.DialUDP("udp", nil, g.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer sock.Close()
		if _, err := sock.Write(p.payload); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = kcpListen(sock, until)
		}()
	}
	wg.Wait()
	for i, p := range probes {
		r := results[i]
		if errs[i] != nil {
			t.Errorf("%s: %v", p.name, errs[i])
			continue
		}
		t.Logf("%s: sent %d bytes, got %d datagrams, %d bytes", p.name, len(p.payload), len(r.datagrams), r.bytes)
		if r.bytes > len(p.payload) {
			t.Errorf("%s: sent %d bytes, got %d back (amplification %.1f×)", p.name, len(p.payload), r.bytes, float64(r.bytes)/float64(len(p.payload)))
		}
		switch {
		case !p.cookie && len(r.datagrams) != 0:
			t.Errorf("%s: got %d datagrams, want none", p.name, len(r.datagrams))
		case p.cookie && len(r.datagrams) != 1:
			t.Errorf("%s: got %d datagrams, want one COOKIE", p.name, len(r.datagrams))
		case p.cookie:
			if _, ok := kcpCookieOf(r.datagrams[0], helloConv, nonce); !ok {
				t.Errorf("%s: answer %x is not the COOKIE", p.name, r.datagrams[0])
			}
		}
	}
	if n, err := g.kcpSessions(); err != nil || n != 0 {
		t.Errorf("the probes opened %d KCP sessions (%v), want 0", n, err)
	}
	// Each drop is counted.
	for name, want := range map[string]int{"iogo_gate_kcp_dropped_total": len(probes) - 1, "iogo_gate_kcp_cookies_total": 1} {
		if n, err := g.metric(name, "gate="); err != nil || n != want {
			t.Errorf("%s = %d (%v), want %d", name, n, err, want)
		}
	}
}

// kcpRawUDP sends UDP datagrams with any IPv4 source address and port, as an
// off-path attacker can: a raw socket (IPPROTO_RAW, so IP_HDRINCL) that
// needs root.
type kcpRawUDP struct{ fd int }

func openKCPRawUDP(t *testing.T) *kcpRawUDP {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("forging a source address needs a raw socket, so root (CAP_NET_RAW); run as root")
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_RAW)
	if err != nil {
		t.Skipf("no raw socket: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	return &kcpRawUDP{fd: fd}
}

// send sends payload from src to dst (IPv4). The kernel fills in the IP
// checksum and ID; a zero UDP checksum means none, which IPv4 allows.
func (r *kcpRawUDP) send(src, dst *net.UDPAddr, payload []byte) error {
	udpLen := 8 + len(payload)
	b := make([]byte, 20, 20+udpLen)
	b[0], b[8], b[9] = 0x45, 64, syscall.IPPROTO_UDP // version 4, IHL 5; TTL; protocol
	binary.BigEndian.PutUint16(b[2:], uint16(20+udpLen))
	copy(b[12:16], src.IP.To4())
	copy(b[16:20], dst.IP.To4())
	b = binary.BigEndian.AppendUint16(b, uint16(src.Port))
	b = binary.BigEndian.AppendUint16(b, uint16(dst.Port))
	b = binary.BigEndian.AppendUint16(b, uint16(udpLen))
	b = binary.BigEndian.AppendUint16(b, 0)
	b = append(b, payload...)
	to := &syscall.SockaddrInet4{Addr: [4]byte(dst.IP.To4())}
	return syscall.Sendto(r.fd, b, 0, to)
}

// TestHostileKCPHijack (issue 13, item 5): datagrams forged with a live
// player's address and port (another conversation ID and sn 0, the one
// kcp-go's listener replaces a session for; the same with a made-up
// cookie; a HELLO) do not disturb the player's session.
func TestHostileKCPHijack(t *testing.T) {
	raw := openKCPRawUDP(t)
	g := startKCPGate(t)
	ctx := deadline(t)
	player, err := client.Dial(ctx, "kcp://"+g.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer player.Close()
	if err := player.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	// The gate sees the player at 127.0.0.1 and the port of its socket.
	victim := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: player.LocalAddr().(*net.UDPAddr).Port}
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	forged := [][]byte{
		kcpHeartbeatSegment(t, kcpRandConv()),
		kcpSegment(kcpRandConv(), 0, []byte{0, 0, 0, 0}),
		append(append([]byte{kcpData}, make([]byte, 12)...), kcpHeartbeatSegment(t, kcpRandConv())...),
		kcpHelloPacket(kcpRandConv(), nonce), // its COOKIE goes to the player, who ignores it
	}
	for round := range 3 {
		for _, f := range forged {
			if err := raw.send(victim, g.addr, f); err != nil {
				t.Fatalf("raw send: %v", err)
			}
		}
		// The forged datagrams are sent before the heartbeat, and loopback
		// keeps order, so the gate has read them when it answers.
		if err := player.Heartbeat(ctx); err != nil {
			t.Fatalf("round %d: the player lost its session to forged datagrams: %v", round, err)
		}
		// A business request (to a route nobody serves) is answered too.
		if m, err := player.Request(ctx, 99, 1, nil); err != nil || m.Status == 0 {
			t.Fatalf("round %d: request: %+v, %v", round, m, err)
		}
	}
	if n, err := g.kcpSessions(); err != nil || n != 1 {
		t.Fatalf("%d KCP sessions (%v), want the player's only", n, err)
	}
}

// TestHostileKCPFirstFrame (issue 13, item 3, KCP): a client that
// completes the cookie exchange, opens a KCP session and never sends a
// whole envelope is closed after the handshake timeout, long before the
// idle timeout (60 s).
func TestHostileKCPFirstFrame(t *testing.T) {
	g := startKCPGate(t, "-handshake-timeout", "2s")
	sock, err := net.DialUDP("udp", nil, g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	conv := kcpRandConv()
	var cookie []byte
	for attempt := 0; cookie == nil; attempt++ {
		if attempt == 10 {
			t.Fatal("no COOKIE in 10 HELLOs")
		}
		if _, err := sock.Write(kcpHelloPacket(conv, nonce)); err != nil {
			t.Fatal(err)
		}
		r, err := kcpListen(sock, time.Now().Add(500*time.Millisecond)) // the retry interval
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range r.datagrams {
			if c, ok := kcpCookieOf(d, conv, nonce); ok {
				cookie = c
			}
		}
	}
	// Half a length prefix, then silence.
	data := append(append([]byte{kcpData}, cookie...), kcpSegment(conv, 0, []byte{0, 0})...)
	if _, err := sock.Write(data); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// The gate's KCP session acknowledges the segment: it exists.
	_ = sock.SetReadDeadline(time.Now().Add(5 * time.Second))
	for buf := make([]byte, 2048); ; {
		n, err := sock.Read(buf)
		if err != nil {
			t.Fatalf("no acknowledgement from the gate: %v", err)
		}
		if n >= 24 && binary.LittleEndian.Uint32(buf) == conv {
			break
		}
	}
	// The session is counted (as soon as the gate has accepted it, well
	// within the handshake timeout), then closed.
	g.waitKCPSessions(t, 1, 5*time.Second)
	g.waitKCPSessions(t, 0, 10*time.Second)
	t.Logf("stalled KCP session closed within %v", time.Since(start).Round(100*time.Millisecond))
	if n, err := g.metric("iogo_gate_handshake_timeouts_total", `transport="kcp"`); err != nil || n != 1 {
		t.Errorf("KCP handshake timeouts counted: %d (%v), want 1", n, err)
	}
}
