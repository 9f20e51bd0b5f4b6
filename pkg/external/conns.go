package external

import (
	"bufio"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// addrCounts counts the open connections of each client address.
type addrCounts struct {
	mu sync.Mutex // a leaf lock
	n  map[netip.Addr]int
}

// addrKey is the key an address's connections count under: an IPv4
// address itself, an IPv6 address's /64 network (one subscriber's share,
// so an attacker cannot spread over the addresses of its own network).
func addrKey(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is4() {
		return ip
	}
	p, _ := ip.Prefix(64)
	return p.Addr()
}

// acquire counts one more connection of key unless it holds max already.
func (c *addrCounts) acquire(key netip.Addr, max int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key] >= max {
		return false
	}
	c.n[key]++
	return true
}

func (c *addrCounts) release(key netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key] <= 1 {
		delete(c.n, key)
		return
	}
	c.n[key]--
}

// edgeListener wraps a WebSocket or TCP listener with the gate's edge: a
// connection is counted against its client address (admitAddr) and
// closed at once when over the limit, and gets a read deadline of
// Config.HandshakeTimeout, which the transport replaces once it reads (the
// HTTP server, the TCP link's first frame). The connections it returns
// are *edgeConn: closing one releases its count.
//
// With Config.TrustedProxies set, a connection may open with a PROXY
// protocol header, which takes a read; Accept must not wait for one client,
// so each new connection is prepared on a goroutine of its own (proxy.go)
// and handed to Accept when ready.
type edgeListener struct {
	net.Listener
	s         *Server
	transport string

	// PROXY mode only (prepare, proxy.go):
	ready   chan net.Conn // prepared connections
	errs    chan error    // the inner listener's accept errors
	done    chan struct{} // closed by Close
	closing sync.Once
	mu      sync.Mutex
	inPrep  map[net.Conn]struct{} // connections being prepared; nil once closed
	wg      sync.WaitGroup        // the feeder and the prepare goroutines
}

// edgeListener wraps ln, a "ws" or "tcp" listener, in the gate's edge.
func (s *Server) edgeListener(ln net.Listener, transport string) net.Listener {
	l := &edgeListener{Listener: ln, s: s, transport: transport}
	if len(s.edge.trusted) > 0 {
		l.ready = make(chan net.Conn)
		l.errs = make(chan error)
		l.done = make(chan struct{})
		l.inPrep = make(map[net.Conn]struct{})
		l.wg.Add(1)
		go l.feed()
	}
	return l
}

// Accept returns the next admitted connection.
func (l *edgeListener) Accept() (net.Conn, error) {
	if l.ready != nil {
		select {
		case c := <-l.ready:
			return c, nil
		case err := <-l.errs:
			return nil, err
		case <-l.done:
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
		}
	}
	for {
		raw, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		release, ok := l.s.admitAddr(addrIP(raw.RemoteAddr()), l.transport)
		if !ok {
			_ = raw.Close()
			continue
		}
		l.s.setHandshakeDeadline(raw)
		return l.s.newEdgeConn(raw, l.transport, nil, nil, release), nil
	}
}

// Close closes the listener; in PROXY mode it also closes the connections
// not yet handed to Accept and waits for their goroutines.
func (l *edgeListener) Close() error {
	err := l.Listener.Close()
	if l.ready == nil {
		return err
	}
	l.closing.Do(func() {
		close(l.done)
		l.mu.Lock()
		for c := range l.inPrep {
			_ = c.Close()
		}
		l.inPrep = nil
		l.mu.Unlock()
		l.wg.Wait()
	})
	return err
}

// setHandshakeDeadline gives a new connection Config.HandshakeTimeout to
// send its first bytes.
func (s *Server) setHandshakeDeadline(c net.Conn) {
	if s.cfg.HandshakeTimeout > 0 {
		_ = c.SetReadDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	}
}

// edgeConn is a connection accepted by an edgeListener. It reports the
// client's address (from a PROXY header, when one came), reads first what
// was read ahead while looking for that header, releases the address's
// counts when closed, and, while its WebSocket handshake lasts, counts a
// read timeout as a handshake timeout.
type edgeConn struct {
	net.Conn
	s         *Server
	transport string
	remote    net.Addr      // the client's address; nil: Conn's own
	br        *bufio.Reader // read ahead; nil once drained (reader only)

	// handshaking is set, on a WebSocket connection, until it is upgraded.
	handshaking atomic.Bool

	mu      sync.Mutex
	closed  bool
	release func() // the listener's address count; run once on Close
	fwd     func() // the count of a forwarded client address (proxy.go)
}

func (s *Server) newEdgeConn(c net.Conn, transport string, remote net.Addr, br *bufio.Reader, release func()) *edgeConn {
	ec := &edgeConn{Conn: c, s: s, transport: transport, remote: remote, release: release}
	if br != nil && br.Buffered() > 0 {
		ec.br = br
	}
	ec.handshaking.Store(transport == "ws")
	return ec
}

// Read reads what was read ahead, then from the connection.
func (c *edgeConn) Read(b []byte) (int, error) {
	if c.br != nil {
		n, err := c.br.Read(b)
		if c.br.Buffered() == 0 {
			c.br = nil
		}
		return n, err
	}
	n, err := c.Conn.Read(b)
	if err != nil && isTimeout(err) && c.handshaking.CompareAndSwap(true, false) {
		c.s.handshakeTimedOut(c.transport, c.s.log.With("remote", c.RemoteAddr().String()))
	}
	return n, err
}

// RemoteAddr returns the client's address: the one a trusted proxy named,
// or the peer's.
func (c *edgeConn) RemoteAddr() net.Addr {
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}

// Close closes the connection and releases its address counts.
func (c *edgeConn) Close() error {
	c.mu.Lock()
	rel, fwd := c.release, c.fwd
	c.release, c.fwd, c.closed = nil, nil, true
	c.mu.Unlock()
	if rel != nil {
		rel()
	}
	if fwd != nil {
		fwd()
	}
	return c.Conn.Close()
}

// holdForwarded makes release, the count of the client address a trusted
// proxy named for this connection, run when the connection closes, at
// once if it has. It replaces, and releases, the count of an earlier
// request on the same keep-alive connection.
func (c *edgeConn) holdForwarded(release func()) {
	c.mu.Lock()
	prev := c.fwd
	if c.closed {
		prev, release = release, nil
	}
	c.fwd = release
	c.mu.Unlock()
	if prev != nil {
		prev()
	}
}

// upgraded ends the handshake of a WebSocket connection: from now on a
// read timeout is the session's idle timeout.
func (c *edgeConn) upgraded() { c.handshaking.Store(false) }

// edgeOf finds the edgeConn under c, through the wrappers of fasthttp's
// hijacked connections and of TLS, or returns nil.
func edgeOf(c net.Conn) *edgeConn {
	for range 8 {
		switch x := c.(type) {
		case *edgeConn:
			return x
		case interface{ UnsafeConn() net.Conn }: // fasthttp's hijacked connection
			c = x.UnsafeConn()
		case interface{ NetConn() net.Conn }: // *tls.Conn
			c = x.NetConn()
		default:
			return nil
		}
	}
	return nil
}
