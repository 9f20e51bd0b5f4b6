package kcpcookie

import (
	"crypto/subtle"
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Stats counts what a Guard did with the datagrams it read.
type Stats struct {
	// Cookies is the number of HELLOs answered with a COOKIE.
	Cookies uint64
	// Admitted is the number of (address, conversation) pairs admitted by
	// a fresh cookie.
	Admitted uint64
	// Dropped is the number of datagrams dropped: not a HELLO nor a DATA,
	// a malformed one, or a DATA whose cookie is wrong or too old.
	Dropped uint64
	// Peers is the number of admitted pairs now.
	Peers int
}

// Guard is a net.PacketConn over the gate's UDP socket for kcp-go's
// listener (kcp.ServeConn): ReadFrom answers HELLOs itself and returns
// only the KCP datagrams of admitted (address, conversation) pairs, with
// their cookie prefix removed; WriteTo sends KCP datagrams unchanged.
type Guard struct {
	conn  *net.UDPConn
	now   func() time.Time
	stale time.Duration
	keys  keyRing

	mu        sync.Mutex
	peers     map[netip.AddrPort]*peer
	nextSweep int64 // Unix seconds

	cookies, admitted, dropped atomic.Uint64

	in reader // ReadFrom's only
}

// peer is an admitted address: the conversation and cookie it was admitted
// with, and whether it sent since the last sweep.
type peer struct {
	conv uint32
	tag  tag
	live bool
}

// GuardConfig configures a Guard.
type GuardConfig struct {
	// Stale forgets an admitted pair that has sent nothing for this long
	// (up to twice as long: see sweepLocked), so that pairs whose session
	// never came, or ended without Forget, do not pile up. Zero or
	// negative: only Forget removes them.
	Stale time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// NewGuard returns a Guard reading and writing conn. The Guard owns conn
// from then on: Close closes it.
func NewGuard(conn *net.UDPConn, cfg GuardConfig) *Guard {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &Guard{conn: conn, now: cfg.Now, stale: cfg.Stale, peers: make(map[netip.AddrPort]*peer)}
	if conn != nil {
		g.in = newReader(conn)
	}
	return g
}

// ReadFrom returns the next KCP datagram from an admitted pair into p,
// without its prefix. HELLOs are answered and everything else is dropped
// on the way. It fails only when the socket does.
func (g *Guard) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		b, from, err := g.in.read()
		if err != nil {
			return 0, nil, err
		}
		if from == nil {
			g.dropped.Add(1)
			continue
		}
		ap := from.AddrPort()
		if len(b) >= Overhead+kcpHeader && b[0] == typeData {
			var t tag
			copy(t[:], b[1:Overhead])
			conv := binary.LittleEndian.Uint32(b[Overhead:])
			if g.admit(unmap(ap), conv, &t) {
				return copy(p, b[Overhead:]), from, nil
			}
		} else if len(b) > 0 && b[0] == typeHello {
			if g.answer(b, ap) {
				continue
			}
		}
		g.dropped.Add(1)
	}
}

// admit reports whether a DATA datagram for conv with cookie t from addr
// may pass: its pair was admitted with that cookie, or the cookie is
// fresh and valid, which admits the pair (replacing the address's previous
// pair, if any: only that address's owner can have such a cookie). The
// first case, every datagram of a live session, reads no clock.
func (g *Guard) admit(addr netip.AddrPort, conv uint32, t *tag) bool {
	g.mu.Lock()
	if p := g.peers[addr]; p != nil && p.conv == conv && subtle.ConstantTimeCompare(p.tag[:], t[:]) == 1 {
		p.live = true
		g.mu.Unlock()
		return true
	}
	g.mu.Unlock()
	now := g.now().Unix()
	if !g.keys.check(t, addr, conv, now) {
		return false
	}
	g.mu.Lock()
	g.peers[addr] = &peer{conv: conv, tag: *t, live: true}
	g.sweepLocked(now)
	g.mu.Unlock()
	g.admitted.Add(1)
	return true
}

// sweepLocked forgets the pairs that sent nothing since the previous
// sweep, and runs at most once per g.stale, so a pair goes after between
// one and two g.stale of silence. It runs when a pair is admitted: the
// table cannot grow between sweeps by more than the admissions since the
// last one.
func (g *Guard) sweepLocked(now int64) {
	if g.stale <= 0 || now < g.nextSweep {
		return
	}
	g.nextSweep = now + max(int64(g.stale/time.Second), 1)
	for a, p := range g.peers {
		if !p.live {
			delete(g.peers, a)
		}
		p.live = false
	}
}

// answer sends the COOKIE for a well-formed HELLO and reports whether b
// was one.
func (g *Guard) answer(b []byte, from netip.AddrPort) bool {
	conv, nonce, ok := parseHello(b)
	if !ok {
		return false
	}
	t := g.keys.issue(unmap(from), conv, g.now().Unix())
	var buf [CookieSize]byte
	g.cookies.Add(1) // before the COOKIE leaves, for a test that reads both
	_, _ = g.conn.WriteToUDPAddrPort(appendCookie(buf[:0], conv, nonce, t), from)
	return true
}

// Forget removes the admission of addr's pair if its conversation is
// conv: the session has ended, so its cookie no longer admits anything
// once too old.
func (g *Guard) Forget(addr net.Addr, conv uint32) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return
	}
	ap := unmap(ua.AddrPort())
	g.mu.Lock()
	if p := g.peers[ap]; p != nil && p.conv == conv {
		delete(g.peers, ap)
	}
	g.mu.Unlock()
}

// Stats returns the Guard's counters.
func (g *Guard) Stats() Stats {
	g.mu.Lock()
	n := len(g.peers)
	g.mu.Unlock()
	return Stats{Cookies: g.cookies.Load(), Admitted: g.admitted.Load(), Dropped: g.dropped.Load(), Peers: n}
}

// WriteTo sends a KCP datagram to addr as it is.
func (g *Guard) WriteTo(p []byte, addr net.Addr) (int, error) { return g.conn.WriteTo(p, addr) }

// Close closes the socket.
func (g *Guard) Close() error { return g.conn.Close() }

// LocalAddr returns the socket's address.
func (g *Guard) LocalAddr() net.Addr { return g.conn.LocalAddr() }

// SetDeadline sets the socket's read and write deadlines.
func (g *Guard) SetDeadline(t time.Time) error { return g.conn.SetDeadline(t) }

// SetReadDeadline sets the socket's read deadline.
func (g *Guard) SetReadDeadline(t time.Time) error { return g.conn.SetReadDeadline(t) }

// SetWriteDeadline sets the socket's write deadline.
func (g *Guard) SetWriteDeadline(t time.Time) error { return g.conn.SetWriteDeadline(t) }

var _ net.PacketConn = (*Guard)(nil)
