package kcpcookie

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Handshake timing on the client.
const (
	// firstRetry is the wait for a COOKIE before the first HELLO is sent
	// again; each retry doubles it, up to maxRetry.
	firstRetry = 250 * time.Millisecond
	maxRetry   = 2 * time.Second
	// DefaultHandshakeTimeout bounds Handshake when its context has no
	// sooner deadline.
	DefaultHandshakeTimeout = 10 * time.Second
	// refreshAfter is the age at which a Conn whose gate has not answered
	// yet asks for a new cookie, well before MaxAge.
	refreshAfter = MaxAge / 2
)

// ErrNoCookie is returned by Handshake when the gate did not answer.
var ErrNoCookie = errors.New("kcpcookie: no cookie from the gate (is it a KCP gate, and is UDP open?)")

// Conn is the client's side of the exchange: a net.PacketConn for one
// kcp-go session (kcp.NewConn4) that prefixes each datagram with the
// cookie and returns only the gate's datagrams of its conversation. Until
// the gate's first datagram arrives it asks for a fresh cookie whenever its
// own is half-way to MaxAge, so a session may start long after Handshake.
type Conn struct {
	conn   *net.UDPConn
	server netip.AddrPort // unmapped
	raddr  *net.UDPAddr
	conv   uint32
	nonce  [8]byte
	now    func() time.Time

	in reader // ReadFrom's only
	// confirmed: the gate has sent a KCP datagram, so the cookie works.
	confirmed atomic.Bool

	mu      sync.Mutex // guards the fields below
	tag     tag
	tagAt   time.Time
	helloAt time.Time
	buf     []byte
}

// Conv returns a random conversation ID for a new session. Its low byte is
// never a packet type, so the gate's KCP datagrams, which start with it,
// cannot be mistaken for a COOKIE.
func Conv() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	if b[0] >= typeHello && b[0] <= typeData {
		b[0] ^= 0x80
	}
	return binary.LittleEndian.Uint32(b[:])
}

// Handshake sends HELLOs for conv over conn to the gate at server until a
// COOKIE answers, and returns a Conn that owns conn. It gives up when ctx
// ends or after DefaultHandshakeTimeout.
func Handshake(ctx context.Context, conn *net.UDPConn, server *net.UDPAddr, conv uint32) (*Conn, error) {
	c := &Conn{conn: conn, server: unmap(server.AddrPort()), raddr: server, conv: conv, now: time.Now}
	_, _ = rand.Read(c.nonce[:])
	ctx, cancel := context.WithTimeout(ctx, DefaultHandshakeTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	hello := appendHello(nil, conv, c.nonce)
	buf := make([]byte, 2048)
	for wait := firstRetry; ; wait = min(2*wait, maxRetry) {
		if _, err := conn.WriteTo(hello, server); err != nil {
			return nil, fmt.Errorf("kcpcookie: hello: %w", err)
		}
		retry := time.Now().Add(wait)
		if err := conn.SetReadDeadline(retry); err != nil {
			return nil, err
		}
		if ctx.Err() != nil { // AfterFunc ran before the deadline was set
			return nil, c.failed(ctx)
		}
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					return nil, fmt.Errorf("kcpcookie: %w", err)
				}
				if ctx.Err() != nil {
					return nil, c.failed(ctx)
				}
				break // retry
			}
			if unmap(from) != c.server {
				continue
			}
			if gotConv, nonce, t, ok := parseCookie(buf[:n]); ok && gotConv == conv && nonce == c.nonce {
				if !stop() { // ctx ended meanwhile
					return nil, c.failed(ctx)
				}
				if err := conn.SetReadDeadline(time.Time{}); err != nil {
					return nil, err
				}
				c.tag, c.tagAt = t, c.now()
				c.in = newReader(conn)
				return c, nil
			}
		}
	}
}

func (c *Conn) failed(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ErrNoCookie
	}
	return ctx.Err()
}

// ReadFrom returns the next datagram from the gate of this conversation;
// it installs a COOKIE that answers a refresh and drops anything else.
func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		b, from, err := c.in.read()
		if err != nil {
			return 0, nil, err
		}
		if from == nil || unmap(from.AddrPort()) != c.server || len(b) < 4 {
			continue
		}
		if binary.LittleEndian.Uint32(b) == c.conv {
			if !c.confirmed.Load() {
				c.confirmed.Store(true)
			}
			return copy(p, b), c.raddr, nil
		}
		if conv, nonce, t, ok := parseCookie(b); ok && conv == c.conv && nonce == c.nonce {
			c.mu.Lock()
			if !c.confirmed.Load() {
				c.tag, c.tagAt = t, c.now()
			}
			c.mu.Unlock()
		}
	}
}

// WriteTo sends p, a KCP datagram, to the gate with the cookie in front
// (addr is ignored: a Conn talks to one gate).
func (c *Conn) WriteTo(p []byte, _ net.Addr) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.confirmed.Load() {
		c.refreshLocked()
	}
	c.buf = append(append(append(c.buf[:0], typeData), c.tag[:]...), p...)
	if _, err := c.conn.WriteToUDPAddrPort(c.buf, c.server); err != nil {
		return 0, err
	}
	return len(p), nil
}

// refreshLocked sends a HELLO, at most once a second, when the cookie is
// old enough to need replacing before the gate has accepted it.
func (c *Conn) refreshLocked() {
	now := c.now()
	if now.Sub(c.tagAt) < refreshAfter || now.Sub(c.helloAt) < time.Second {
		return
	}
	c.helloAt = now
	var b [HelloSize]byte
	_, _ = c.conn.WriteToUDPAddrPort(appendHello(b[:0], c.conv, c.nonce), c.server)
}

// Close closes the socket.
func (c *Conn) Close() error { return c.conn.Close() }

// LocalAddr returns the socket's address.
func (c *Conn) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// SetDeadline sets the socket's read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.conn.SetDeadline(t) }

// SetReadDeadline sets the socket's read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.conn.SetReadDeadline(t) }

// SetWriteDeadline sets the socket's write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }

var _ net.PacketConn = (*Conn)(nil)
