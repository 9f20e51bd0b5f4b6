package external

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/pires/go-proxyproto"
)

// The real client address behind a proxy (Config.TrustedProxies): from
// the PROXY protocol header (v1 text or v2 binary, as HAProxy, AWS NLB,
// nginx's stream module and most TCP load balancers send it) that opens a
// TCP or WebSocket connection from a trusted proxy, and from the
// X-Forwarded-For or X-Real-IP header of a WebSocket upgrade request that
// a trusted proxy forwarded.

// proxyBuffer is the read-ahead buffer of a connection while its PROXY
// header is looked for: a v1 header is at most 107 bytes; a v2 header of
// any size is read through it.
const proxyBuffer = 256

// feed accepts connections from the inner listener and prepares each on a
// goroutine of its own, so that no client can stall Accept.
func (l *edgeListener) feed() {
	defer l.wg.Done()
	for {
		raw, err := l.Listener.Accept()
		if err != nil {
			select {
			case l.errs <- err:
			case <-l.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		l.mu.Lock()
		if l.inPrep == nil { // closed
			l.mu.Unlock()
			_ = raw.Close()
			return
		}
		l.inPrep[raw] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go l.prepare(raw)
	}
}

// prepare reads the PROXY header a new connection may open with, admits
// the connection under its client's address and hands it to Accept, or
// closes it: when a header comes from an address not trusted, when a
// trusted proxy's header is malformed, when nothing at all arrives within
// Config.HandshakeTimeout, or when the client address is over its limit.
//
// A connection from an untrusted address is counted against that address
// before anything is read, so one address cannot hold more goroutines
// here than its limit. A trusted proxy's connection is counted against
// the address its header names; without a header (an HTTP proxy, which
// names the client in X-Forwarded-For instead, or a health check), it is
// not counted.
func (l *edgeListener) prepare(raw net.Conn) {
	defer l.wg.Done()
	c := l.prepareConn(raw)
	l.mu.Lock()
	if l.inPrep != nil {
		delete(l.inPrep, raw)
	}
	l.mu.Unlock()
	if c == nil {
		_ = raw.Close()
		return
	}
	select {
	case l.ready <- c:
	case <-l.done:
		_ = c.Close()
	}
}

// prepareConn does prepare's work; nil means close raw.
func (l *edgeListener) prepareConn(raw net.Conn) net.Conn {
	s := l.s
	peer := addrIP(raw.RemoteAddr())
	trusted := s.edge.isTrusted(peer)
	release := func() {}
	if !trusted {
		var ok bool
		if release, ok = s.admitAddr(peer, l.transport); !ok {
			return nil
		}
	}
	s.setHandshakeDeadline(raw)
	br := bufio.NewReaderSize(raw, proxyBuffer)
	hdr, err := proxyproto.Read(br)
	switch {
	case errors.Is(err, proxyproto.ErrNoProxyProtocol):
		// No header: the connection's own bytes, read ahead in br.
		if _, perr := br.Peek(1); perr != nil {
			// The peer closed or went silent before its first byte.
			if isTimeout(perr) {
				s.handshakeTimedOut(l.transport, s.log.With("remote", raw.RemoteAddr().String()))
			}
			release()
			return nil
		}
		return s.newEdgeConn(raw, l.transport, nil, br, release)
	case err != nil:
		release()
		switch {
		case isTimeout(err):
			s.handshakeTimedOut(l.transport, s.log.With("remote", raw.RemoteAddr().String()))
		case !isConnError(err) && trusted:
			s.refuse(refusedProxyHeader, l.transport, peer)
		case !isConnError(err):
			s.refuse(refusedProxy, l.transport, peer) // what matters is who sent it
		}
		return nil
	case !trusted:
		release()
		s.refuse(refusedProxy, l.transport, peer)
		return nil
	}
	var remote net.Addr
	if hdr.Command.IsProxy() && hdr.SourceAddr != nil {
		remote = hdr.SourceAddr
		var ok bool
		if release, ok = s.admitAddr(addrIP(remote), l.transport); !ok {
			return nil
		}
	}
	// A LOCAL header (the proxy's own health check) keeps the proxy's
	// address, which is not counted.
	return s.newEdgeConn(raw, l.transport, remote, br, release)
}

// isConnError reports whether err is the connection's failure (closed,
// reset, cut short, timed out) rather than a malformed header.
func isConnError(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.As(err, &ne)
}

// localClientIP is the fiber.Ctx local holding the client address named by
// a trusted proxy's forwarding header.
const localClientIP = "iogo.clientIP"

// Forwarding headers of a WebSocket upgrade request.
const (
	headerForwardedFor = "X-Forwarded-For"
	headerRealIP       = "X-Real-IP"
)

// admitForwarded runs in the upgrade check of a WebSocket request. When
// the request comes from a trusted proxy that names its client, it counts
// the connection against the client's address (HTTP 429 when over the
// limit) and records the address for serveWS. Forwarding headers from any
// other peer are ignored.
func (s *Server) admitForwarded(c *fiber.Ctx) error {
	if len(s.edge.trusted) == 0 {
		return nil
	}
	peer := addrIP(c.Context().RemoteAddr())
	if !s.edge.isTrusted(peer) {
		return nil
	}
	h := &c.Context().Request.Header
	ip, ok := s.edge.forwardedFor(h.PeekAll(headerForwardedFor))
	if !ok {
		ip, ok = parseHostIP(string(h.Peek(headerRealIP)))
	}
	if !ok {
		return nil
	}
	release, ok := s.admitAddr(ip, "ws")
	if !ok {
		return fiber.NewError(fiber.StatusTooManyRequests, "too many connections from this address")
	}
	if ec := edgeOf(c.Context().Conn()); ec != nil {
		ec.holdForwarded(release)
	} else {
		release() // not one of ours: nothing to tie the count to
	}
	c.Locals(localClientIP, ip.String())
	return nil
}

// forwardedFor returns the client address in X-Forwarded-For values. Each
// proxy appends the address it received the request from, so, walking
// from the right, the first address that is not a trusted proxy is the
// client as the nearest trusted proxy saw it; anything left of it may
// have been written by the client itself. If every address is trusted,
// the leftmost is taken. An entry that is not an address before the
// client is found makes the header worthless: no address.
func (e *edgeState) forwardedFor(values [][]byte) (netip.Addr, bool) {
	var hops []string
	for _, v := range values {
		for _, f := range strings.Split(string(v), ",") {
			hops = append(hops, strings.TrimSpace(f))
		}
	}
	var last netip.Addr
	for i := len(hops) - 1; i >= 0; i-- {
		ip, ok := parseHostIP(hops[i])
		if !ok {
			return netip.Addr{}, false
		}
		if !e.isTrusted(ip) {
			return ip, true
		}
		last = ip
	}
	return last, last.IsValid()
}

// parseHostIP parses an address as forwarding headers carry it: "1.2.3.4",
// "2001:db8::1", with or without a port ("1.2.3.4:5678", "[2001:db8::1]:80").
func parseHostIP(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Addr{}, false
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		return ip.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if ip, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return ip.Unmap(), true
	}
	return netip.Addr{}, false
}

// wsRemote ends the handshake of an upgraded WebSocket connection (from
// now on its read timeouts are idle timeouts) and returns the client's
// address for the session: the one a trusted proxy's forwarding header
// named (admitForwarded), else the connection's (a PROXY header's, else
// the peer's).
func (s *Server) wsRemote(c *websocket.Conn) string {
	if ec := edgeOf(c.NetConn()); ec != nil {
		ec.upgraded()
	}
	if ip, ok := c.Locals(localClientIP).(string); ok {
		return ip
	}
	return c.RemoteAddr().String()
}
