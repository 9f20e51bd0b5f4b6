package kcpcookie

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a settable test clock, in Unix seconds.
type clock struct{ sec atomic.Int64 }

func newClock() *clock {
	c := new(clock)
	// The start of a key period, so that tests know where periods end.
	c.sec.Store(1_800_000_000 / 60 * 60)
	return c
}

func (c *clock) now() time.Time      { return time.Unix(c.sec.Load(), 0) }
func (c *clock) add(d time.Duration) { c.sec.Add(int64(d / time.Second)) }
func (c *clock) unix() int64         { return c.sec.Load() }
func testGuard(c *clock) *Guard {
	return NewGuard(nil, GuardConfig{Now: c.now, Stale: 5 * time.Minute})
}
func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
func (g *Guard) issue(a netip.AddrPort, conv uint32) tag {
	return g.keys.issue(a, conv, g.now().Unix())
}

func TestAdmit(t *testing.T) {
	player, other := ap("192.0.2.1:4000"), ap("192.0.2.2:4000")
	const conv = 7
	tests := []struct {
		name  string
		addr  netip.AddrPort // where the DATA comes from
		conv  uint32
		later time.Duration // between the cookie and the DATA
		edit  func(*tag)
		want  bool
	}{
		{name: "valid", addr: player, conv: conv, want: true},
		{name: "valid at MaxAge, previous key", addr: player, conv: conv, later: MaxAge, want: true},
		{name: "expired", addr: player, conv: conv, later: MaxAge + time.Second},
		{name: "other address", addr: other, conv: conv},
		{name: "other port", addr: ap("192.0.2.1:4001"), conv: conv},
		{name: "other conversation", addr: player, conv: conv + 1},
		{name: "wrong MAC", addr: player, conv: conv, edit: func(t *tag) { t[11] ^= 1 }},
		{name: "timestamp moved back", addr: player, conv: conv, edit: func(t *tag) { binary.BigEndian.PutUint32(t[:4], t.ts()-1) }},
		{name: "timestamp in the future", addr: player, conv: conv, edit: func(t *tag) { binary.BigEndian.PutUint32(t[:4], t.ts()+5) }},
		{name: "zero cookie", addr: player, conv: conv, edit: func(t *tag) { *t = tag{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			g := testGuard(c)
			tg := g.issue(player, conv)
			if tt.edit != nil {
				tt.edit(&tg)
			}
			c.add(tt.later)
			if got := g.admit(tt.addr, tt.conv, &tg); got != tt.want {
				t.Fatalf("admit = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAdmittedPairOutlivesCookie(t *testing.T) {
	c := newClock()
	g := testGuard(c)
	player := ap("192.0.2.1:4000")
	tg := g.issue(player, 7)
	if !g.admit(player, 7, &tg) {
		t.Fatal("fresh cookie refused")
	}
	for range 10 { // ten key periods later, still sending every minute
		c.add(KeyPeriod)
		if !g.admit(player, 7, &tg) {
			t.Fatalf("admitted pair refused at %v", c.now())
		}
	}
	// The same address with another conversation and the old cookie:
	// the forged datagram of a hijack.
	if g.admit(player, 8, &tg) {
		t.Fatal("other conversation admitted with the player's cookie")
	}
	// The player's conversation with a made-up cookie.
	bad := tg
	bad[11] ^= 1
	if g.admit(player, 7, &bad) {
		t.Fatal("player's conversation admitted with a wrong cookie")
	}
	if !g.admit(player, 7, &tg) {
		t.Fatal("forged datagrams disturbed the admitted pair")
	}
	g.Forget(net.UDPAddrFromAddrPort(player), 7)
	if g.admit(player, 7, &tg) {
		t.Fatal("old cookie admitted after Forget")
	}
}

func TestFreshCookieReplacesPair(t *testing.T) {
	c := newClock()
	g := testGuard(c)
	player := ap("192.0.2.1:4000")
	old := g.issue(player, 7)
	if !g.admit(player, 7, &old) {
		t.Fatal("fresh cookie refused")
	}
	c.add(MaxAge * 2)
	// The client reconnects from the same address and port (a NAT that
	// keeps its mapping) with a new conversation and a new cookie.
	renewed := g.issue(player, 9)
	if !g.admit(player, 9, &renewed) {
		t.Fatal("new pair refused")
	}
	if g.admit(player, 7, &old) {
		t.Fatal("replaced pair still admitted")
	}
	// Forget for the replaced conversation leaves the new one.
	g.Forget(net.UDPAddrFromAddrPort(player), 7)
	if !g.admit(player, 9, &renewed) {
		t.Fatal("Forget of the old conversation removed the new one")
	}
}

func TestKeyRotation(t *testing.T) {
	c := newClock()
	var r keyRing
	a := ap("[2001:db8::1]:4000")
	tg := r.issue(a, 7, c.unix())
	var mac [macSize]byte
	for _, step := range []struct {
		name string
		at   time.Duration // after the cookie
		want bool
	}{
		{"same period", KeyPeriod - time.Second, true},
		{"next period: previous key", KeyPeriod, true},
		{"two periods on: key gone", 2 * KeyPeriod, false},
		{"never again", 3 * KeyPeriod, false},
	} {
		ok := r.sign(&mac, a, 7, tg.ts(), c.unix()+int64(step.at/time.Second))
		if ok && !bytes.Equal(mac[:], tg[4:]) {
			t.Fatalf("%s: MAC changed", step.name)
		}
		if ok != step.want {
			t.Fatalf("%s: key known = %v, want %v", step.name, ok, step.want)
		}
	}
	// A new period draws a new key: the same input signs differently.
	tg2 := r.issue(a, 7, int64(tg.ts())+int64(3*KeyPeriod/time.Second))
	binary.BigEndian.PutUint32(tg2[:4], tg.ts())
	if tg2 == tg {
		t.Fatal("key not replaced")
	}
}

func TestSweep(t *testing.T) {
	c := newClock()
	g := NewGuard(nil, GuardConfig{Now: c.now, Stale: time.Minute})
	quiet, busy := ap("192.0.2.1:1"), ap("192.0.2.2:1")
	tq, tb := g.issue(quiet, 1), g.issue(busy, 2)
	g.admit(quiet, 1, &tq)
	g.admit(busy, 2, &tb)
	c.add(50 * time.Second)
	g.admit(busy, 2, &tb)
	c.add(20 * time.Second) // quiet: 70 s silent, busy: 20 s
	tn := g.issue(ap("192.0.2.3:1"), 3)
	g.admit(ap("192.0.2.3:1"), 3, &tn) // an admission runs the sweep
	if g.admit(quiet, 1, &tq) {
		t.Fatal("stale pair not swept")
	}
	if !g.admit(busy, 2, &tb) {
		t.Fatal("busy pair swept")
	}
	if n := g.Stats().Peers; n != 2 {
		t.Fatalf("peers = %d, want 2", n)
	}
}

func TestHelloFormat(t *testing.T) {
	nonce := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	h := appendHello(nil, 0xdeadbeef, nonce)
	if len(h) != HelloSize {
		t.Fatalf("hello is %d bytes, want %d", len(h), HelloSize)
	}
	conv, n, ok := parseHello(h)
	if !ok || conv != 0xdeadbeef || n != nonce {
		t.Fatalf("parseHello = %x %v %v", conv, n, ok)
	}
	for _, tt := range []struct {
		name string
		b    []byte
	}{
		{"short", h[:HelloSize-1]},
		{"bad magic", append([]byte{typeHello, 'x'}, h[2:]...)},
		{"bad version", append(append(append([]byte(nil), h[:headSize-1]...), 9), h[headSize:]...)},
		{"a cookie", appendCookie(nil, 1, nonce, tag{})},
	} {
		if _, _, ok := parseHello(tt.b); ok {
			t.Errorf("%s: parsed as a HELLO", tt.name)
		}
	}
	ck := appendCookie(nil, 0xdeadbeef, nonce, tag{9})
	if len(ck) != CookieSize || CookieSize >= HelloSize {
		t.Fatalf("cookie is %d bytes (CookieSize %d), hello %d", len(ck), CookieSize, HelloSize)
	}
	if conv, n, tg, ok := parseCookie(ck); !ok || conv != 0xdeadbeef || n != nonce || tg[0] != 9 {
		t.Fatalf("parseCookie = %x %v %v %v", conv, n, tg, ok)
	}
}

// kcpDatagram is a KCP-shaped datagram of conversation conv.
func kcpDatagram(conv uint32, payload string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, conv)
	b = append(b, make([]byte, kcpHeader-4)...)
	return append(b, payload...)
}

// serve runs a Guard on a loopback socket; it returns the guard and a
// channel of the datagrams it lets through.
func serve(t *testing.T) (*Guard, <-chan []byte) {
	return serveOn(t, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
}

func serveOn(t *testing.T, laddr *net.UDPAddr) (*Guard, <-chan []byte) {
	t.Helper()
	uc, err := net.ListenUDP("udp", laddr)
	if err != nil {
		t.Skipf("no UDP socket on %v: %v", laddr, err)
	}
	g := NewGuard(uc, GuardConfig{})
	got := make(chan []byte, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := g.ReadFrom(buf)
			if err != nil {
				return
			}
			b := append([]byte(nil), buf[:n]...)
			got <- b
			_, _ = g.WriteTo(b, from) // echo
		}
	}()
	t.Cleanup(func() { _ = g.Close(); <-done })
	return g, got
}

func TestHandshakeOverLoopback(t *testing.T) {
	for _, tt := range []struct {
		name         string
		server, dial net.IP // the guard's socket, and the address dialed
	}{
		{"ipv4", net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 1)},
		{"dual-stack socket, ipv4 client", net.IPv6unspecified, net.IPv4(127, 0, 0, 1)},
		{"ipv6", net.IPv6loopback, net.IPv6loopback},
	} {
		t.Run(tt.name, func(t *testing.T) { testHandshake(t, tt.server, tt.dial) })
	}
}

func testHandshake(t *testing.T, server, dial net.IP) {
	g, got := serveOn(t, &net.UDPAddr{IP: server})
	uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: dial})
	if err != nil {
		t.Fatal(err)
	}
	conv := Conv()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Handshake(ctx, uc, &net.UDPAddr{IP: dial, Port: g.LocalAddr().(*net.UDPAddr).Port}, conv)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := kcpDatagram(conv, "hello")
	if _, err := c.WriteTo(want, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		if !bytes.Equal(b, want) {
			t.Fatalf("guard passed %x, want %x", b, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("guard passed nothing; stats %+v", g.Stats())
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	n, _, err := c.ReadFrom(buf)
	if err != nil || !bytes.Equal(buf[:n], want) {
		t.Fatalf("echo = %x, %v", buf[:n], err)
	}
	if st := g.Stats(); st.Cookies != 1 || st.Admitted != 1 || st.Peers != 1 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestGuardDropsUnproven(t *testing.T) {
	g, got := serve(t)
	uc, err := net.DialUDP("udp", nil, g.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	var forged [Overhead]byte
	forged[0] = typeData
	for _, b := range [][]byte{
		kcpDatagram(1, "plain KCP"),
		append(forged[:], kcpDatagram(1, "a DATA with no cookie")...),
		{typeHello},
		appendHello(nil, 1, [8]byte{})[:HelloSize-1],
	} {
		if _, err := uc.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	// A valid HELLO afterwards is answered: the others were read before.
	if _, err := uc.Write(appendHello(nil, 1, [8]byte{})); err != nil {
		t.Fatal(err)
	}
	_ = uc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	n, err := uc.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := parseCookie(buf[:n]); !ok {
		t.Fatalf("answer %x is no COOKIE", buf[:n])
	}
	select {
	case b := <-got:
		t.Fatalf("guard passed %x", b)
	default:
	}
	if st := g.Stats(); st.Dropped != 4 || st.Cookies != 1 || st.Admitted != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestHandshakeTimesOut(t *testing.T) {
	// A socket that never answers.
	silent, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := Handshake(ctx, uc, silent.LocalAddr().(*net.UDPAddr), 1); !errors.Is(err, ErrNoCookie) {
		t.Fatalf("err = %v, want ErrNoCookie", err)
	}
}

func TestConvNeverAPacketType(t *testing.T) {
	for range 2000 {
		if b := byte(Conv()); b >= typeHello && b <= typeData {
			t.Fatalf("conv low byte %#x", b)
		}
	}
}

// BenchmarkAdmit is the Guard's cost per datagram of a live session.
func BenchmarkAdmit(b *testing.B) {
	g := NewGuard(nil, GuardConfig{Stale: time.Minute})
	a := ap("192.0.2.1:4000")
	tg := g.issue(a, 7)
	for i := range 1000 { // other sessions in the table
		o := netip.AddrPortFrom(a.Addr(), uint16(5000+i))
		to := g.issue(o, 7)
		g.admit(o, 7, &to)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !g.admit(a, 7, &tg) {
			b.Fatal("refused")
		}
	}
}

// BenchmarkCheck is the cost of a datagram that needs its MAC checked: a
// session's first one, or a forged one.
func BenchmarkCheck(b *testing.B) {
	var r keyRing
	now := time.Now().Unix()
	a := ap("192.0.2.1:4000")
	tg := r.issue(a, 7, now)
	b.ReportAllocs()
	for b.Loop() {
		if !r.check(&tg, a, 7, now) {
			b.Fatal("refused")
		}
	}
}

// BenchmarkReadFrom is the Guard's cost per datagram of a live session,
// read from the socket: sent 16 at a time, then read, one system call per
// batch (recvmmsg) or per datagram.
func BenchmarkReadFrom(b *testing.B) {
	for _, batched := range []bool{true, false} {
		b.Run(map[bool]string{true: "batched", false: "single"}[batched], func(b *testing.B) {
			uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			_ = uc.SetReadBuffer(4 << 20)
			g := NewGuard(uc, GuardConfig{})
			defer g.Close()
			if !batched {
				g.in.batch = nil
			}
			sender, err := net.DialUDP("udp", nil, uc.LocalAddr().(*net.UDPAddr))
			if err != nil {
				b.Fatal(err)
			}
			defer sender.Close()
			tg := g.issue(unmap(sender.LocalAddr().(*net.UDPAddr).AddrPort()), 7)
			d := append(append([]byte{typeData}, tg[:]...), kcpDatagram(7, string(make([]byte, 64)))...)
			buf := make([]byte, 1500)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := sender.Write(d); err != nil {
					b.Fatal(err)
				}
				if i++; i%16 == 0 {
					for range 16 {
						if _, _, err := g.ReadFrom(buf); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
		})
	}
}

// TestConnRefreshesCookie: a Conn whose gate has not answered yet asks for
// a new cookie once its own is half-way to MaxAge, at most once a second,
// and never once the gate has answered.
func TestConnRefreshesCookie(t *testing.T) {
	g, got := serve(t)
	uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	conv := Conv()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Handshake(ctx, uc, g.LocalAddr().(*net.UDPAddr), conv)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	clk := newClock()
	clk.sec.Store(c.tagAt.Unix())
	c.now = clk.now
	cookies := func(want uint64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for g.Stats().Cookies != want {
			if time.Now().After(deadline) {
				t.Fatalf("cookies %d, want %d", g.Stats().Cookies, want)
			}
			time.Sleep(time.Millisecond) // polling pace
		}
	}
	write := func() {
		t.Helper()
		if _, err := c.WriteTo(kcpDatagram(conv, "x"), nil); err != nil {
			t.Fatal(err)
		}
		<-got // the guard passed it: it has read everything sent before
	}
	write()
	cookies(1)
	clk.add(refreshAfter + time.Second)
	write() // sends a HELLO first
	cookies(2)
	write() // not again within a second
	cookies(2)
	// The gate answers (here: the echo of the datagram): confirmed.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := 0; i < 3; i++ {
		if _, _, err := c.ReadFrom(make([]byte, 1500)); err != nil {
			t.Fatal(err)
		}
	}
	clk.add(refreshAfter + time.Second)
	write()
	cookies(2)
}
