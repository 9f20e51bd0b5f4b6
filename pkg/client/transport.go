package client

import (
	"net"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/iogo-dev/iogo/pkg/wire"
)

// transport frames envelopes on one connection. write and writeRaw are
// serialized by the Client; read is called by the reader goroutine only;
// close may be called at any time, more than once.
type transport interface {
	write(m *wire.Message) error
	writeRaw(b []byte) error
	// read returns the next envelope; its Data is owned by the caller.
	read() (*wire.Message, error)
	localAddr() net.Addr
	close()
}

// tcpTransport: 4-byte big-endian length prefix, then the envelope.
type tcpTransport struct {
	conn  net.Conn
	codec wire.Codec
	fr    *wire.FrameReader
	buf   []byte
}

func (t *tcpTransport) write(m *wire.Message) error {
	b, err := wire.AppendFrame(t.buf[:0], t.codec, m)
	if err != nil {
		return err
	}
	t.buf = b
	_, err = t.conn.Write(b)
	return err
}

func (t *tcpTransport) writeRaw(b []byte) error {
	_, err := t.conn.Write(b)
	return err
}

func (t *tcpTransport) read() (*wire.Message, error) {
	b, err := t.fr.Next()
	if err != nil {
		return nil, err
	}
	m := new(wire.Message)
	if err := t.codec.UnmarshalMessage(b, m); err != nil {
		return nil, err
	}
	if m.Data != nil {
		m.Data = append([]byte(nil), m.Data...) // b is reused by the next read
	}
	return m, nil
}

func (t *tcpTransport) localAddr() net.Addr { return t.conn.LocalAddr() }

func (t *tcpTransport) close() { _ = t.conn.Close() }

// wsTransport: one envelope per WebSocket message.
type wsTransport struct {
	conn      *fws.Conn
	codec     wire.Codec
	frameType int
	buf       []byte
}

func (t *wsTransport) write(m *wire.Message) error {
	b, err := t.codec.AppendMessage(t.buf[:0], m)
	if err != nil {
		return err
	}
	t.buf = b
	return t.conn.WriteMessage(t.frameType, b)
}

func (t *wsTransport) writeRaw(b []byte) error {
	return t.conn.WriteMessage(fws.BinaryMessage, b)
}

func (t *wsTransport) read() (*wire.Message, error) {
	_, b, err := t.conn.ReadMessage() // a fresh buffer per message
	if err != nil {
		return nil, err
	}
	m := new(wire.Message)
	if err := t.codec.UnmarshalMessage(b, m); err != nil {
		return nil, err
	}
	return m, nil
}

func (t *wsTransport) localAddr() net.Addr { return t.conn.LocalAddr() }

func (t *wsTransport) close() {
	msg := fws.FormatCloseMessage(fws.CloseNormalClosure, "")
	_ = t.conn.WriteControl(fws.CloseMessage, msg, time.Now().Add(100*time.Millisecond))
	_ = t.conn.Close()
}
