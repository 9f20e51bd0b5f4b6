package external

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The edge: what a gate on the internet does before a connection becomes
// a session. Every listener is wrapped (conns.go) so that a connection is
// counted against its client address from the moment it is accepted
// (Config.MaxConnsPerAddr), the real client address is read from a PROXY
// protocol header of a trusted proxy (proxy.go), and its handshake is
// bounded (Config.HandshakeTimeout): the WebSocket upgrade by the HTTP
// server's timeouts and a read deadline set at accept (ws.go), a TCP
// connection's first frame by readFirst below. Refusals and handshake
// timeouts are counted (metrics.go) and logged at most once per
// edgeLogEvery for each kind, with the number left unlogged.
//
// The listener chain is: raw listener → PROXY header → per-address limit
// → TLS, if any → the transport's framing.

// edgeLogEvery is the least time between two log lines about one kind of
// refusal or timeout.
const edgeLogEvery = 10 * time.Second

// Reasons a connection is refused, the "reason" label of
// iogo_gate_refused_total.
const (
	refusedAddrLimit   = iota // Config.MaxConnsPerAddr reached
	refusedProxy              // a PROXY header from an untrusted address
	refusedProxyHeader        // a malformed PROXY header from a trusted one
	numRefusals
)

var refusalNames = [numRefusals]string{"addr_limit", "untrusted_proxy", "bad_proxy_header"}

var refusalLogs = [numRefusals]string{
	"connection refused: too many connections from one address",
	"connection refused: PROXY header from an untrusted address",
	"connection refused: malformed PROXY header",
}

// errHandshakeTimeout wraps the read timeout of a connection that did not
// finish its handshake (its first frame) within Config.HandshakeTimeout.
var errHandshakeTimeout = errors.New("external: handshake timeout")

// edgeState is a server's edge: the trusted proxies, the per-address
// connection counts and the counters of refusals and handshake timeouts.
type edgeState struct {
	trusted  []netip.Prefix // parsed Config.TrustedProxies
	maxConns int            // Config.MaxConnsPerAddr; 0 is no limit
	conns    addrCounts     // conns.go

	refused  [len(transports)][numRefusals]atomic.Uint64
	timeouts [len(transports)]atomic.Uint64

	refusedLog [numRefusals]logEvery
	timeoutLog logEvery
}

func newEdgeState(cfg *Config) *edgeState {
	e := &edgeState{maxConns: cfg.MaxConnsPerAddr}
	e.trusted, _ = parsePrefixes(cfg.TrustedProxies) // checked by Validate
	e.conns.n = make(map[netip.Addr]int)
	return e
}

// validateEdge checks HandshakeTimeout's companions: MaxConnsPerAddr and
// TrustedProxies.
func (c *Config) validateEdge() error {
	if c.MaxConnsPerAddr < 0 {
		return fmt.Errorf("external: negative MaxConnsPerAddr %d", c.MaxConnsPerAddr)
	}
	if _, err := parsePrefixes(c.TrustedProxies); err != nil {
		return fmt.Errorf("external: TrustedProxies: %w", err)
	}
	return nil
}

// parsePrefixes parses IP addresses and CIDR prefixes; an address is a
// prefix of its full length.
func parsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, err
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, err
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// isTrusted reports whether ip is one of Config.TrustedProxies.
func (e *edgeState) isTrusted(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, p := range e.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// addrIP returns the IP address of a net.Addr, or the zero Addr.
func addrIP(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case nil:
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// admitAddr counts a new connection of transport ("ws", "tcp", "kcp")
// from the client address ip against Config.MaxConnsPerAddr. It reports
// false, counts and logs the refusal when the address already holds the
// most connections allowed; the caller then closes the connection.
// Otherwise the caller must call release, once or more (later calls do
// nothing), when the connection closes. With no limit, or an invalid ip,
// every connection is admitted. Safe for concurrent use.
//
// Every transport's connections count together: WebSocket and TCP through
// the listeners (conns.go) and the WebSocket upgrade (proxy.go); KCP calls
// it when a session is accepted.
func (s *Server) admitAddr(ip netip.Addr, transport string) (release func(), ok bool) {
	e := s.edge
	if e.maxConns <= 0 || !ip.IsValid() {
		return func() {}, true
	}
	key := addrKey(ip)
	if !e.conns.acquire(key, e.maxConns) {
		s.refuse(refusedAddrLimit, transport, ip)
		return nil, false
	}
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) {
			e.conns.release(key)
		}
	}, true
}

// refuse counts a refused connection and logs it, rate-limited.
func (s *Server) refuse(reason int, transport string, ip netip.Addr) {
	t := transportIndex(transport)
	s.edge.refused[t][reason].Add(1)
	if n, ok := s.edge.refusedLog[reason].allow(time.Now()); ok {
		s.log.Warn(refusalLogs[reason], "transport", transport, "addr", ip.String(),
			"max_conns_per_addr", s.edge.maxConns, "more_since_last_log", n)
	}
}

// handshakeTimedOut counts a connection closed because its handshake took
// longer than Config.HandshakeTimeout, and logs it on log, rate-limited.
// log should name the connection's remote address.
func (s *Server) handshakeTimedOut(transport string, log *slog.Logger) {
	s.edge.timeouts[transportIndex(transport)].Add(1)
	if n, ok := s.edge.timeoutLog.allow(time.Now()); ok {
		log.Warn("connection closed: no handshake within the handshake timeout", "transport", transport,
			"handshake_timeout", s.cfg.HandshakeTimeout, "more_since_last_log", n)
	}
}

// logEvery lets one log line through per interval and counts the others.
type logEvery struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether a line may be logged at now and, if so, how many
// were held back since the last one.
func (l *logEvery) allow(now time.Time) (held int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < edgeLogEvery {
		l.suppressed++
		return 0, false
	}
	held, l.suppressed, l.last = l.suppressed, 0, now
	return held, true
}

// readFirst reads a stream link's first frame within its handshake
// timeout, then hands the link over to the idle timeout. A timeout is
// reported as errHandshakeTimeout.
func (l *tcpLink) readFirst() ([]byte, error) {
	d := l.first
	l.first = 0
	if err := l.conn.SetReadDeadline(time.Now().Add(d)); err != nil {
		return nil, err
	}
	b, err := l.fr.Next()
	if err != nil {
		if isTimeout(err) {
			err = fmt.Errorf("%w: %w", errHandshakeTimeout, err)
		}
		return nil, err
	}
	if l.idle <= 0 {
		// No idle timeout: lift the handshake's deadline. The frame is
		// already read, so this cannot cut it short.
		if err := l.conn.SetReadDeadline(time.Time{}); err != nil {
			return nil, err
		}
	}
	return b, nil
}
