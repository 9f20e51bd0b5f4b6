package external

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"

	"github.com/iogo-dev/iogo/pkg/internal/kcpcookie"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/xtaci/kcp-go/v5"
)

// KCP (reliable UDP, xtaci/kcp-go) carries the same length-prefixed frames
// as TCP, and its sessions run the TCP session code over a
// *kcp.UDPSession, which is a net.Conn. There is no FEC and no encryption.
//
// KCP has no connection set-up or tear-down: kcp-go starts a session with
// the first packet from a new address, and replaces it when a packet with
// another conversation ID and sequence number 0 comes from that address.
// So, unless Config.KCPPlain, the listener reads its socket through a
// kcpcookie.Guard, which lets a datagram through only from a client that
// has proven its address with a cookie exchange (pkg/internal/kcpcookie):
// a spoofed datagram gets nothing back and disturbs no session. A session
// must send its first whole envelope within Config.HandshakeTimeout; a
// peer that goes away later is noticed only by the idle timeout. When the
// gate closes a session it sends what is queued once more and forgets the
// session; the client is not told unless an envelope said so (the idle
// timeout's -1003).

// KCP tuning shared by every session.
const (
	// kcpWindow is the send and receive window, in segments of up to
	// 1376 bytes: about 170 KiB in flight each way per session.
	kcpWindow = 128
	// kcpSocketBuffer is the socket buffer asked for the listener's UDP
	// socket, which every KCP session shares (the kernel may cap it).
	kcpSocketBuffer = 4 << 20
)

// kcpState is the KCP listener of a server.
type kcpState struct {
	conn  net.PacketConn   // the UDP socket, or guard; closed after the listener
	guard *kcpcookie.Guard // nil with Config.KCPPlain
	ln    *kcp.Listener
	addr  atomic.Pointer[net.Addr]
	done  chan struct{} // closed when the accept loop has returned
}

// KCPAddr returns the KCP (UDP) listener's address, nil if KCP is off or
// the server has not started.
func (s *Server) KCPAddr() net.Addr {
	if a := s.kcp.addr.Load(); a != nil {
		return *a
	}
	return nil
}

// tuneKCP applies a mode (KCPFast or KCPNormal) and the gate's window and
// stream settings to a KCP session. pkg/client tunes its side the same way.
func tuneKCP(sess *kcp.UDPSession, mode string) {
	sess.SetStreamMode(true) // frames are a byte stream, as on TCP
	sess.SetWriteDelay(false)
	sess.SetWindowSize(kcpWindow, kcpWindow)
	if mode == KCPNormal {
		sess.SetNoDelay(0, 40, 0, 0)
	} else {
		sess.SetNoDelay(1, 10, 2, 1)
	}
}

// listenKCP binds the KCP listener; start calls it with the other
// listeners. The accept loop starts with startKCP.
func (s *Server) listenKCP(ctx context.Context) error {
	if s.cfg.KCPAddr == "" {
		return nil
	}
	var lc net.ListenConfig
	conn, err := lc.ListenPacket(ctx, "udp", s.cfg.KCPAddr)
	if err != nil {
		return fmt.Errorf("external: kcp: %w", err)
	}
	if u, ok := conn.(*net.UDPConn); ok {
		_ = u.SetReadBuffer(kcpSocketBuffer)
		_ = u.SetWriteBuffer(kcpSocketBuffer)
		if !s.cfg.KCPPlain {
			// An admission outlives the session's idle timeout, after
			// which the gate has closed the session (and forgotten it).
			s.kcp.guard = kcpcookie.NewGuard(u, kcpcookie.GuardConfig{Stale: 2 * s.cfg.IdleTimeout})
			conn = s.kcp.guard
		}
	}
	ln, err := kcp.ServeConn(nil, 0, 0, conn)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("external: kcp: %w", err)
	}
	s.kcp.conn, s.kcp.ln = conn, ln
	a := conn.LocalAddr()
	s.kcp.addr.Store(&a)
	return nil
}

// startKCP starts the accept loop of a bound KCP listener. The loop is not
// counted in s.wg: the listener's socket carries the sessions' traffic, so
// it must stay open until the sessions have drained (closeKCP).
func (s *Server) startKCP() {
	if s.kcp.ln == nil {
		return
	}
	s.kcp.done = make(chan struct{})
	go s.acceptKCP(s.kcp.ln)
}

// closeKCP closes the KCP socket and listener and waits for the accept
// loop. teardown calls it once every session has ended: sessions send
// through the listener's socket until then.
func (s *Server) closeKCP() {
	if s.kcp.ln == nil {
		return
	}
	// Closing the socket first makes the accept loop's last error come
	// after the listener's last new session (see acceptKCP).
	_ = s.kcp.conn.Close()
	_ = s.kcp.ln.Close()
	if s.kcp.done != nil {
		<-s.kcp.done
	}
}

// acceptKCP serves KCP sessions until the listener's socket is closed.
func (s *Server) acceptKCP(ln *kcp.Listener) {
	defer close(s.kcp.done)
	for {
		conn, err := ln.AcceptKCP()
		if err != nil {
			if !errors.Is(err, io.ErrClosedPipe) && !errors.Is(err, net.ErrClosed) {
				s.log.Error("kcp listener stopped", "err", err)
			}
			drainKCP(ln)
			return
		}
		// The guard has proven the address: count it (MaxConnsPerAddr).
		release, ok := s.admitAddr(addrIP(conn.RemoteAddr()), "kcp") // edge.go
		if !ok {
			_ = conn.Close()
			s.forgetKCP(conn)
			continue
		}
		tuneKCP(conn, s.cfg.KCPMode)
		l := s.newStreamLink(conn)
		l.first = s.cfg.HandshakeTimeout // the first envelope's deadline (edge.go)
		sess := s.addSession(s.codec, l, "kcp", conn.RemoteAddr().String())
		if sess == nil {
			_ = conn.Close()
			release()
			s.forgetKCP(conn)
			continue
		}
		go func() {
			defer s.wg.Done()
			sess.serve()
			release()
			s.forgetKCP(conn)
		}()
	}
}

// KCP guard metrics on Config.MetricsAddr (none with KCPPlain).
var (
	descKCPCookies  = prometheus.NewDesc("iogo_gate_kcp_cookies_total", "KCP cookie requests (HELLO) answered.", []string{"gate"}, nil)
	descKCPAdmitted = prometheus.NewDesc("iogo_gate_kcp_admitted_total", "KCP clients admitted with a valid cookie.", []string{"gate"}, nil)
	descKCPDropped  = prometheus.NewDesc("iogo_gate_kcp_dropped_total",
		"UDP datagrams dropped by the KCP guard: neither a HELLO nor carrying a valid cookie for their source and conversation.", []string{"gate"}, nil)
)

// kcpCollector reads the KCP guard's counters at every scrape.
type kcpCollector struct{ s *Server }

func (c kcpCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descKCPCookies
	ch <- descKCPAdmitted
	ch <- descKCPDropped
}

func (c kcpCollector) Collect(ch chan<- prometheus.Metric) {
	g := c.s.kcp.guard
	if g == nil {
		return
	}
	st := g.Stats()
	for _, m := range []struct {
		d *prometheus.Desc
		v uint64
	}{{descKCPCookies, st.Cookies}, {descKCPAdmitted, st.Admitted}, {descKCPDropped, st.Dropped}} {
		ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, float64(m.v), c.s.cfg.ID)
	}
}

// forgetKCP ends the guard's admission of a closed session, so that the
// client's late datagrams start no new one once its cookie is too old.
func (s *Server) forgetKCP(conn *kcp.UDPSession) {
	if s.kcp.guard != nil {
		s.kcp.guard.Forget(conn.RemoteAddr(), conn.GetConv())
	}
}

// drainKCP closes the sessions left in a dead listener's accept queue,
// each of which holds a goroutine until closed. The listener reports the
// socket's failure only after queuing its last session, and from then on
// AcceptKCP never blocks: it returns, at random, a queued session or the
// error. So the queue is empty once the error comes many times in a row.
func drainKCP(ln *kcp.Listener) {
	for misses := 0; misses < 64; {
		conn, err := ln.AcceptKCP()
		if err != nil {
			misses++
			continue
		}
		misses = 0
		_ = conn.Close()
	}
}
