package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/wire"
)

// ErrClosed is returned by calls on a client that was closed with Close.
var ErrClosed = errors.New("client: closed")

// DefaultMaxFrame is the largest envelope a client accepts by default.
const DefaultMaxFrame = 16 << 20

// DefaultPushBuffer is the default capacity of the Pushes channel.
const DefaultPushBuffer = 1024

// An Option tunes a Client.
type Option func(*options)

type options struct {
	pushBuffer int
	maxFrame   int
	heartbeat  time.Duration
	tls        *tls.Config // tls.go
}

// WithPushBuffer sets the capacity of the Pushes channel (default
// DefaultPushBuffer).
func WithPushBuffer(n int) Option { return func(o *options) { o.pushBuffer = max(n, 0) } }

// WithMaxFrame sets the largest envelope accepted from the server (default
// DefaultMaxFrame); a larger one ends the connection.
func WithMaxFrame(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxFrame = n
		}
	}
}

// WithHeartbeat makes the client send a heartbeat every interval, so that
// a quiet connection outlives the gate's idle timeout (60 s by default):
// pick an interval well below it, such as a third. The gate's answers are
// consumed, never delivered as pushes. Default: no heartbeats.
func WithHeartbeat(interval time.Duration) Option {
	return func(o *options) { o.heartbeat = max(interval, 0) }
}

// Client is a connection to an external server.
type Client struct {
	t     transport
	codec wire.Codec

	wmu sync.Mutex // serializes writes

	mu     sync.Mutex
	calls  map[int32]chan *wire.Message
	nextID int32
	err    error       // why the connection ended; nil while open
	notice *errs.Error // the last error envelope with MsgID 0 (idle timeout, forced offline)

	pushes  chan *wire.Message
	dropped atomic.Uint64

	done       chan struct{} // closed when the connection has ended
	readerDone chan struct{}
	beatDone   chan struct{} // closed when the heartbeat goroutine has exited
}

// Dial connects to an external server. rawURL is
// ws://host:port/websocket or wss://… for WebSocket, tcp://host:port for
// TCP, tls://host:port for TCP over TLS, kcp://host:port for KCP over UDP.
// WithTLS configures the TLS of wss:// and tls:// (default: the system
// roots). The query ?codec=json selects the
// JSON codec: the WebSocket server switches to it for this connection; a
// TCP or KCP server must itself be configured for JSON, since they have no
// handshake.
//
// Over KCP, Dial first proves the client's address to the gate with a
// cookie exchange (two small datagrams; docs/wire-protocol.md), so it fails
// when no gate answers within ctx or 10 s. The gate sees the session with
// its first envelope, which it must get within its handshake timeout
// (10 s by default), and a session the gate drops is noticed only by
// missing answers (or the envelope that announced it, such as the idle
// timeout's). kcp://host:port?plain=true skips the exchange, for a gate
// configured with KCPPlain.
func Dial(ctx context.Context, rawURL string, opts ...Option) (*Client, error) {
	o := options{pushBuffer: DefaultPushBuffer, maxFrame: DefaultMaxFrame}
	for _, opt := range opts {
		opt(&o)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	codec, err := wire.CodecFor(u.Query().Get("codec"))
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	var t transport
	switch u.Scheme {
	case "ws", "wss":
		d := fws.Dialer{ReadBufferSize: 4096, WriteBufferSize: 4096, TLSClientConfig: o.tls}
		conn, resp, err := d.DialContext(ctx, rawURL, nil)
		if err != nil {
			if resp != nil {
				err = fmt.Errorf("%w (HTTP %s)", err, resp.Status)
			}
			return nil, fmt.Errorf("client: dial %s: %w", rawURL, err)
		}
		conn.SetReadLimit(int64(o.maxFrame))
		wt := &wsTransport{conn: conn, codec: codec, frameType: fws.BinaryMessage}
		if codec.Name() == wire.NameJSON {
			wt.frameType = fws.TextMessage
		}
		t = wt
	case "tcp", "tls":
		var d interface {
			DialContext(ctx context.Context, network, addr string) (net.Conn, error)
		} = &net.Dialer{}
		if u.Scheme == "tls" {
			d = &tls.Dialer{Config: o.tls}
		}
		conn, err := d.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return nil, fmt.Errorf("client: dial %s: %w", rawURL, err)
		}
		t = &tcpTransport{conn: conn, codec: codec, fr: wire.NewFrameReader(conn, o.maxFrame)}
	case "kcp":
		var plain bool
		if v := u.Query().Get("plain"); v != "" {
			if plain, err = strconv.ParseBool(v); err != nil {
				return nil, fmt.Errorf("client: %q: plain=%q is not a boolean", rawURL, v)
			}
		}
		conn, err := dialKCP(ctx, u.Host, plain)
		if err != nil {
			return nil, fmt.Errorf("client: dial %s: %w", rawURL, err)
		}
		t = &tcpTransport{conn: conn, codec: codec, fr: wire.NewFrameReader(conn, o.maxFrame)}
	default:
		return nil, fmt.Errorf("client: unsupported scheme %q in %q (want ws, wss, tcp, tls or kcp)", u.Scheme, rawURL)
	}
	c := &Client{
		t:          t,
		codec:      codec,
		calls:      make(map[int32]chan *wire.Message),
		pushes:     make(chan *wire.Message, o.pushBuffer),
		done:       make(chan struct{}),
		readerDone: make(chan struct{}),
		beatDone:   make(chan struct{}),
	}
	go c.readLoop()
	if o.heartbeat > 0 {
		go c.beat(o.heartbeat)
	} else {
		close(c.beatDone)
	}
	return c, nil
}

// Codec returns the connection's codec, in which payloads are encoded.
func (c *Client) Codec() wire.Codec { return c.codec }

// LocalAddr returns the connection's local address: a TCP address for
// WebSocket and TCP, the UDP socket's for KCP (its IP unspecified, as the
// socket is bound to all interfaces).
func (c *Client) LocalAddr() net.Addr { return c.t.localAddr() }

// Request sends a business request to route (cmd, sub) and waits for its
// response. An error status is not an error here: it is in the returned
// envelope's Status and ValidMsg (Call turns it into an *errs.Error). The
// error is non-nil only when no response came: ctx ended or the
// connection failed.
func (c *Client) Request(ctx context.Context, cmd, sub int32, data []byte) (*wire.Message, error) {
	return c.RoundTrip(ctx, &wire.Message{CmdCode: wire.CmdBusiness, CmdMerge: wire.Merge(cmd, sub), Data: data})
}

// Send sends a request to a request/void route and returns without waiting:
// such routes answer only when they fail. An error answer arrives later on
// Pushes, with the MsgID returned here and a non-zero Status.
func (c *Client) Send(ctx context.Context, cmd, sub int32, data []byte) (msgID int32, err error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return 0, err
	}
	id := c.nextIDLocked()
	c.mu.Unlock()
	c.wmu.Lock()
	err = c.t.write(&wire.Message{CmdCode: wire.CmdBusiness, CmdMerge: wire.Merge(cmd, sub), Data: data, MsgID: id})
	c.wmu.Unlock()
	if err != nil {
		return 0, c.failed(err)
	}
	return id, nil
}

// Heartbeat sends a heartbeat and waits for the server's answer.
func (c *Client) Heartbeat(ctx context.Context) error {
	_, err := c.RoundTrip(ctx, &wire.Message{CmdCode: wire.CmdHeartbeat})
	return err
}

// RoundTrip sends m with a fresh MsgID (overwriting m.MsgID) and waits for
// the envelope that echoes it. It is the building block of Request and
// Heartbeat, for envelopes they do not cover.
func (c *Client) RoundTrip(ctx context.Context, m *wire.Message) (*wire.Message, error) {
	ch := make(chan *wire.Message, 1)
	id, err := c.register(ch)
	if err != nil {
		return nil, err
	}
	m.MsgID = id
	c.wmu.Lock()
	err = c.t.write(m)
	c.wmu.Unlock()
	if err != nil {
		c.unregister(id)
		return nil, c.failed(err)
	}
	select {
	case resp := <-ch:
		return resp, nil
	case <-ctx.Done():
		c.unregister(id)
		return nil, ctx.Err()
	case <-c.done:
		c.unregister(id)
		select {
		case resp := <-ch: // answered just before the end
			return resp, nil
		default:
		}
		return nil, c.Err()
	}
}

// SendRaw writes b to the connection as it is: on TCP as bytes on the
// stream (include the length prefix, or not, as the test requires); on
// WebSocket as one binary message. It is meant for tests that send
// malformed input.
func (c *Client) SendRaw(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.t.writeRaw(b); err != nil {
		return c.failed(err)
	}
	return nil
}

// Pushes returns the channel on which pushes arrive (MsgID 0), together
// with every envelope nobody waits for: the error answer of a Send, a
// server notice such as -1003 or -1007, or the late answer of a request
// whose context ended. It is closed when the connection ends.
func (c *Client) Pushes() <-chan *wire.Message { return c.pushes }

// DroppedPushes returns the number of pushes dropped because the Pushes
// channel was full.
func (c *Client) DroppedPushes() uint64 { return c.dropped.Load() }

// Done returns a channel closed when the connection has ended, by Close or
// by the server or network.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended: nil while it is open, ErrClosed
// after Close, else the read error. When the server announced the end
// with an error envelope (MsgID 0 and an error status, such as the idle
// timeout's -1003), the error wraps that *errs.Error too:
// errors.Is(c.Err(), errs.ErrIdleTimeout) reports an idle timeout.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection, fails the requests in flight with ErrClosed
// and waits for the reader goroutine to exit. It is idempotent.
func (c *Client) Close() error {
	c.end(ErrClosed)
	<-c.readerDone
	<-c.beatDone
	return nil
}

// Call sends req to route (cmd, sub) and decodes the response as Resp. Req
// and Resp are protobuf messages, bare values (int32, int64, bool, string
// and their slices, carried in ioGame's wrappers), slices of messages or
// []byte, encoded in the connection's codec. A response with a non-zero
// status is returned as an *errs.Error with its code and message.
func Call[Req, Resp any](ctx context.Context, c *Client, cmd, sub int32, req Req) (Resp, error) {
	var zero Resp
	rv, err := wire.ValueOf[Req]()
	if err != nil {
		return zero, err
	}
	sv, err := wire.ValueOf[Resp]()
	if err != nil {
		return zero, err
	}
	data, err := rv.Append(nil, c.codec, req)
	if err != nil {
		return zero, fmt.Errorf("client: encode request: %w", err)
	}
	resp, err := c.Request(ctx, cmd, sub, data)
	if err != nil {
		return zero, err
	}
	if resp.Status != 0 {
		return zero, errs.New(resp.Status, resp.ValidMsg)
	}
	v, err := sv.Unmarshal(resp.Data, c.codec)
	if err != nil {
		return zero, fmt.Errorf("client: decode response: %w", err)
	}
	return v, nil
}

// register assigns a MsgID to a new call. IDs count up, skipping 0 (the
// pushes' MsgID) and IDs still in flight after a wrap-around.
func (c *Client) register(ch chan *wire.Message) (int32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	id := c.nextIDLocked()
	c.calls[id] = ch
	return id, nil
}

// nextIDLocked returns a positive MsgID no pending request uses. c.mu is
// held.
func (c *Client) nextIDLocked() int32 {
	for {
		c.nextID++
		if c.nextID <= 0 {
			c.nextID = 1
		}
		if _, busy := c.calls[c.nextID]; !busy {
			return c.nextID
		}
	}
}

func (c *Client) unregister(id int32) {
	c.mu.Lock()
	delete(c.calls, id)
	c.mu.Unlock()
}

// failed ends the connection after a write error and returns the error
// callers should see.
func (c *Client) failed(err error) error {
	c.end(err)
	return c.Err()
}

// end records why the connection ended, once, and closes it; the reader
// then exits.
func (c *Client) end(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	if c.notice != nil && err != ErrClosed {
		err = fmt.Errorf("client: connection ended after %w: %w", c.notice, err)
	}
	c.err = err
	c.mu.Unlock()
	close(c.done)
	c.t.close()
}

// readLoop reads envelopes until the connection ends, handing responses to
// their callers and pushes to the Pushes channel.
func (c *Client) readLoop() {
	defer close(c.readerDone)
	defer close(c.pushes)
	for {
		m, err := c.t.read()
		if err != nil {
			c.end(err)
			return
		}
		if m.MsgID == 0 {
			if m.CmdCode == wire.CmdHeartbeat && m.Status == 0 {
				continue // the answer to a WithHeartbeat heartbeat
			}
			if m.Status != 0 {
				c.mu.Lock()
				c.notice = errs.New(m.Status, m.ValidMsg)
				c.mu.Unlock()
			}
			select {
			case c.pushes <- m:
			default:
				c.dropped.Add(1)
			}
			continue
		}
		c.mu.Lock()
		ch := c.calls[m.MsgID]
		delete(c.calls, m.MsgID)
		c.mu.Unlock()
		if ch != nil {
			ch <- m // buffered: never blocks
			continue
		}
		// Nobody waits for it: the error answer of a Send, or the late
		// answer of a request whose context ended.
		select {
		case c.pushes <- m:
		default:
			c.dropped.Add(1)
		}
	}
}

// beat sends a heartbeat every interval until the connection ends. The
// gate answers with MsgID 0, which readLoop drops.
func (c *Client) beat(interval time.Duration) {
	defer close(c.beatDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-c.done:
			return
		}
		c.wmu.Lock()
		err := c.t.write(&wire.Message{CmdCode: wire.CmdHeartbeat})
		c.wmu.Unlock()
		if err != nil {
			c.end(err)
			return
		}
	}
}
