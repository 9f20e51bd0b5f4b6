package tests

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/iogo-dev/iogo/proto/iohao"
	"google.golang.org/protobuf/proto"
)

// specConn is a game-client connection speaking the wire spec directly:
// iohao.ExternalMessage encoded by protobuf-go.
type specConn interface {
	sendRaw(envelope []byte) error
	recvRaw() ([]byte, error)
	close()
}

const ioTimeout = 10 * time.Second

// dialSpec connects to a "tcp://host:port" or "ws://host:port/path" URL.
func dialSpec(t *testing.T, url string) specConn {
	t.Helper()
	var c specConn
	switch {
	case strings.HasPrefix(url, "tcp://"):
		nc, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "tcp://"), ioTimeout)
		if err != nil {
			t.Fatal(err)
		}
		c = &tcpSpec{conn: nc, r: bufio.NewReader(nc)}
	case strings.HasPrefix(url, "ws://"):
		d := websocket.Dialer{HandshakeTimeout: ioTimeout}
		ws, _, err := d.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		c = &wsSpec{conn: ws}
	default:
		t.Fatalf("unknown URL scheme: %q", url)
	}
	t.Cleanup(c.close)
	return c
}

// tcpSpec frames envelopes with a 4-byte big-endian length.
type tcpSpec struct {
	conn net.Conn
	r    *bufio.Reader
}

func (c *tcpSpec) sendRaw(b []byte) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	frame := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(b)), uint32(len(b)))
	_, err := c.conn.Write(append(frame, b...))
	return err
}

func (c *tcpSpec) recvRaw() ([]byte, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	var hdr [4]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	_, err := io.ReadFull(c.r, b)
	return b, err
}

func (c *tcpSpec) close() { _ = c.conn.Close() }

// wsSpec sends one envelope per binary WebSocket message.
type wsSpec struct{ conn *websocket.Conn }

func (c *wsSpec) sendRaw(b []byte) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	return c.conn.WriteMessage(websocket.BinaryMessage, b)
}

func (c *wsSpec) recvRaw() ([]byte, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	_, b, err := c.conn.ReadMessage()
	return b, err
}

func (c *wsSpec) close() { _ = c.conn.Close() }

func send(t *testing.T, c specConn, m *iohao.ExternalMessage) {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.sendRaw(b); err != nil {
		t.Fatal(err)
	}
}

func recv(t *testing.T, c specConn) *iohao.ExternalMessage {
	t.Helper()
	b, err := c.recvRaw()
	if err != nil {
		t.Fatal(err)
	}
	var m iohao.ExternalMessage
	if err := proto.Unmarshal(b, &m); err != nil {
		t.Fatalf("undecodable envelope %x: %v", b, err)
	}
	return &m
}

// request sends a business request and returns the response with the same
// msgId, skipping pushes.
func request(t *testing.T, c specConn, cmd, sub, msgID int32, req proto.Message) *iohao.ExternalMessage {
	t.Helper()
	m := &iohao.ExternalMessage{CmdCode: 1, CmdMerge: cmd<<16 | sub, MsgId: msgID}
	if req != nil {
		data, err := proto.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		m.Data = data
	}
	send(t, c, m)
	for {
		resp := recv(t, c)
		if resp.MsgId == msgID && resp.CmdCode == 1 {
			if resp.CmdMerge != m.CmdMerge {
				t.Fatalf("response route %d, want %d", resp.CmdMerge, m.CmdMerge)
			}
			return resp
		}
		if resp.MsgId != 0 {
			t.Fatalf("unexpected response %v", resp)
		}
	}
}

// decode unmarshals a response payload, failing on an error status.
func decode[T proto.Message](t *testing.T, resp *iohao.ExternalMessage, into T) T {
	t.Helper()
	if resp.ResponseStatus != 0 {
		t.Fatalf("status %d %q", resp.ResponseStatus, resp.GetValidMsg())
	}
	if err := proto.Unmarshal(resp.Data, into); err != nil {
		t.Fatal(err)
	}
	return into
}

func (c *tcpSpec) String() string { return fmt.Sprintf("tcp %s", c.conn.RemoteAddr()) }
