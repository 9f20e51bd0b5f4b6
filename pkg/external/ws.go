package external

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/iogo-dev/iogo/pkg/wire"
)

// WebSocket buffer sizes. The read buffer (a bufio.Reader the library
// allocates at upgrade) is the only buffer an idle connection keeps once it
// has received a message; 1 KiB still reads many small pipelined messages
// per system call, and a larger message is read straight into the
// message's own buffer. The write buffer comes from a pool shared by all
// connections (newWSApp), so its size costs no idle memory.
const (
	wsReadBuffer  = 1024
	wsWriteBuffer = 4096
)

// localCodec is the fiber.Ctx local holding the codec chosen at upgrade.
const localCodec = "iogo.codec"

// localAttrs is the fiber.Ctx local holding the session attributes
// Config.Authorize returned (auth.go).
const localAttrs = "iogo.attrs"

// newWSApp returns the Fiber app serving the WebSocket endpoint: an upgrade
// check that also picks the connection's codec, then the upgrade itself.
func (s *Server) newWSApp() *fiber.App {
	app := fiber.New(fiber.Config{
		DisableStartupMessage: true,
		ReadBufferSize:        4096,
		// Give the HTTP read and write buffers back once the upgrade
		// request is read, instead of keeping them under the WebSocket
		// for the connection's life (4 KiB each). The app serves nothing
		// but upgrades, so the cost (buffers taken again per request on a
		// keep-alive connection) does not arise.
		ReduceMemoryUsage: true,
		// Config.HandshakeTimeout bounds the upgrade request: its first
		// byte by the deadline the edge listener sets at accept, the rest
		// and the wait for a keep-alive connection's next request by these
		// (conns.go). fasthttp lifts them at the upgrade.
		ReadTimeout:  max(s.cfg.HandshakeTimeout, 0),
		WriteTimeout: max(s.cfg.HandshakeTimeout, 0),
		IdleTimeout:  max(s.cfg.HandshakeTimeout, 0),
	})
	path := s.cfg.WSPath
	app.Use(path, func(c *fiber.Ctx) error {
		if !websocket.IsWebSocketUpgrade(c) {
			return fiber.ErrUpgradeRequired
		}
		if err := s.admitForwarded(c); err != nil { // proxy.go
			return err
		}
		codec := s.codec
		if name := c.Query("codec"); name != "" {
			var err error
			if codec, err = wire.CodecFor(name); err != nil {
				return fiber.NewError(fiber.StatusBadRequest, err.Error())
			}
		}
		c.Locals(localCodec, codec)
		attrs, err := s.authorize(c) // auth.go
		if err != nil {
			return err
		}
		c.Locals(localAttrs, attrs)
		return c.Next()
	})
	app.Get(path, websocket.New(s.serveWS, websocket.Config{
		ReadBufferSize:  wsReadBuffer,
		WriteBufferSize: wsWriteBuffer,
		// A connection takes a write buffer for one message and gives it
		// back after, so an idle connection holds none.
		WriteBufferPool: new(sync.Pool),
		RecoverHandler: func(c *websocket.Conn) {
			if v := recover(); v != nil {
				s.log.Error("websocket handler panic", "panic", v)
			}
		},
	}))
	return app
}

// serveWS runs one WebSocket session on the goroutine fasthttp gave the
// hijacked connection; the connection is closed when it returns.
func (s *Server) serveWS(c *websocket.Conn) {
	codec, _ := c.Locals(localCodec).(wire.Codec)
	if codec == nil {
		codec = s.codec
	}
	// A message over MaxFrame, in one frame or many, fails the read with
	// fws.ErrReadLimit (the client gets close code 1009) and closes the
	// session, as an oversize TCP or KCP frame does.
	c.SetReadLimit(int64(s.cfg.MaxFrame))
	l := &wsLink{conn: c.Conn, codec: codec, frameType: fws.BinaryMessage, idle: s.cfg.IdleTimeout, bufs: &s.bufs}
	if codec.Name() == wire.NameJSON {
		l.frameType = fws.TextMessage
	}
	c.SetPingHandler(l.onPing)
	sess := s.addSession(codec, l, "ws", s.wsRemote(c)) // proxy.go
	if sess == nil {
		l.goodbye()
		return
	}
	if attrs, _ := c.Locals(localAttrs).(map[string]string); len(attrs) > 0 {
		_ = sess.ctl.setAttrs(attrs) // checked by authorize
	}
	defer s.wg.Done()
	sess.serve()
}

// wsLink sends one envelope per WebSocket message: binary frames for
// protobuf, text frames for JSON. It accepts either frame type.
type wsLink struct {
	conn      *fws.Conn
	codec     wire.Codec
	frameType int
	idle      time.Duration // Config.IdleTimeout; <= 0 is off
	bufs      *bufPool      // the server's
	rbuf      *[]byte       // the last message read, from bufs; nil when none
}

// read returns the next message. As on TCP, the read deadline is pushed
// back before each message; a WebSocket ping pushes it back too (onPing).
// The last message's buffer goes back to bufs before the wait.
func (l *wsLink) read() ([]byte, error) {
	if l.rbuf != nil {
		l.bufs.put(l.rbuf)
		l.rbuf = nil
	}
	if l.idle > 0 {
		if err := l.conn.SetReadDeadline(readDeadline(l.idle)); err != nil {
			return nil, err
		}
	}
	b, err := l.readMessage()
	if errors.Is(err, fws.ErrReadLimit) {
		err = fmt.Errorf("%w: %v", wire.ErrFrameTooLarge, err)
	}
	return b, err
}

func (l *wsLink) readMessage() ([]byte, error) {
	for {
		typ, r, err := l.conn.NextReader()
		if err != nil {
			return nil, err
		}
		if typ != fws.BinaryMessage && typ != fws.TextMessage {
			continue
		}
		buf := l.bufs.get()
		b, err := readAll(r, *buf)
		*buf = b
		if err != nil {
			l.bufs.put(buf)
			return nil, err
		}
		l.rbuf = buf
		return b, nil
	}
}

// readAll appends what r holds to b[:0], as io.ReadAll does, and returns
// the bytes. The library's read limit bounds how far b grows.
func readAll(r io.Reader, b []byte) ([]byte, error) {
	b = b[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// write sends each envelope as its own message; the WebSocket library
// writes every message straight to the socket, so a batch costs one
// write per envelope but still only one wake-up of the writer. The
// envelopes are encoded into a buffer from bufs, given back after the
// batch.
func (l *wsLink) write(msgs []wire.Message) (int, error) {
	if err := l.conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return 0, err
	}
	buf := l.bufs.get()
	defer l.bufs.put(buf)
	n := 0
	for i := range msgs {
		b, err := l.codec.AppendMessage((*buf)[:0], &msgs[i])
		if err != nil {
			return n, err
		}
		*buf = b
		if err := l.conn.WriteMessage(l.frameType, b); err != nil {
			return n, err
		}
		n += len(b)
	}
	return n, nil
}

// onPing answers a WebSocket ping like the library's default handler and
// counts it as activity for the idle timeout. It runs on the reader
// goroutine, inside NextReader; WriteControl may run beside the writer.
func (l *wsLink) onPing(data string) error {
	if l.idle > 0 {
		_ = l.conn.SetReadDeadline(readDeadline(l.idle))
	}
	err := l.conn.WriteControl(fws.PongMessage, []byte(data), time.Now().Add(time.Second))
	if _, ok := err.(net.Error); ok || errors.Is(err, fws.ErrCloseSent) {
		return nil
	}
	return err
}

func (l *wsLink) goodbye() {
	msg := fws.FormatCloseMessage(fws.CloseGoingAway, "server closing")
	_ = l.conn.WriteControl(fws.CloseMessage, msg, time.Now().Add(time.Second))
}

// close closes the TCP connection under the WebSocket. fasthttp hands the
// handler a hijacked connection whose Close does nothing, so close the
// underlying one; failing that, expire its deadlines, which unblocks the
// reader and the writer just the same.
func (l *wsLink) close() {
	nc := l.conn.NetConn()
	if u, ok := nc.(interface{ UnsafeConn() net.Conn }); ok {
		_ = closeConn(u.UnsafeConn()) // tls.go
		return
	}
	past := time.Unix(1, 0)
	_ = nc.SetDeadline(past)
	_ = nc.Close()
}
