package external

import (
	"errors"
	"net"
	"time"

	"github.com/iogo-dev/iogo/pkg/wire"
)

// tcpLink frames envelopes with a 4-byte big-endian length prefix. A batch
// of envelopes is encoded into one buffer and written with one call. KCP
// sessions use it too (kcp.go): any stream net.Conn will do.
type tcpLink struct {
	conn  net.Conn
	fr    *wire.FrameReader
	codec wire.Codec
	idle  time.Duration // Config.IdleTimeout; <= 0 is off
	bufs  *bufPool      // the server's
	first time.Duration // > 0: the first frame's deadline, Config.HandshakeTimeout (edge.go)
}

// newStreamLink returns a length-prefixed link over conn with the server's
// codec, frame limit and idle timeout.
func (s *Server) newStreamLink(conn net.Conn) *tcpLink {
	return &tcpLink{
		conn:  conn,
		fr:    wire.NewFrameReader(conn, s.cfg.MaxFrame),
		codec: s.codec,
		idle:  s.cfg.IdleTimeout,
		bufs:  &s.bufs,
	}
}

// read returns the next frame. The read deadline is pushed back before
// every frame (a poller update, not a system call), so a connection times
// out after IdleTimeout without a whole frame.
func (l *tcpLink) read() ([]byte, error) {
	if l.first > 0 {
		return l.readFirst() // edge.go
	}
	if l.idle > 0 {
		if err := l.conn.SetReadDeadline(readDeadline(l.idle)); err != nil {
			return nil, err
		}
	}
	return l.fr.Next()
}

// write encodes the batch into one buffer from l.bufs, given back after, and
// writes it with one call.
func (l *tcpLink) write(msgs []wire.Message) (int, error) {
	buf := l.bufs.get()
	defer l.bufs.put(buf)
	b := (*buf)[:0]
	for i := range msgs {
		var err error
		if b, err = wire.AppendFrame(b, l.codec, &msgs[i]); err != nil {
			return 0, err
		}
		*buf = b
	}
	if err := l.conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return 0, err
	}
	return l.conn.Write(b)
}

func (l *tcpLink) goodbye() {}

func (l *tcpLink) close() { _ = closeConn(l.conn) } // tls.go

// acceptTCP accepts connections until the listener is closed, serving each
// on its own goroutine.
func (s *Server) acceptTCP(ln net.Listener) {
	defer s.wg.Done()
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off as net/http
			// does, and keep serving.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("tcp accept failed", "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
				continue
			case <-s.stopping:
				return
			}
		}
		delay = 0
		l := s.newStreamLink(conn)
		l.first = s.cfg.HandshakeTimeout
		sess := s.addSession(s.codec, l, "tcp", conn.RemoteAddr().String())
		if sess == nil {
			_ = conn.Close()
			continue
		}
		go func() {
			defer s.wg.Done()
			sess.serve()
		}()
	}
}
