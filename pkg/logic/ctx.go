package logic

import (
	"context"
	"log/slog"

	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/wire"
)

// Ctx is the context of one request inside a handler: who sent it, on which
// route, in which codec, and the actions a handler can take on its session.
// It is valid only during the handler call.
type Ctx struct {
	ctx   context.Context
	meta  fabric.Meta
	codec wire.Codec
	srv   *Server
	log   *slog.Logger
	bind  int64
	buf   []byte
}

// NewCtx returns a Ctx for a request with the given metadata, outside any
// server: for unit tests of handlers and for tools. A nil codec means
// protobuf; a nil ctx means context.Background().
func NewCtx(ctx context.Context, meta fabric.Meta, codec wire.Codec) *Ctx {
	c := &Ctx{buf: make([]byte, 0, 256)}
	c.reset(ctx, meta, codec, nil)
	return c
}

func (c *Ctx) reset(ctx context.Context, meta fabric.Meta, codec wire.Codec, srv *Server) {
	if ctx == nil {
		ctx = context.Background()
	}
	if codec == nil {
		codec = wire.Protobuf{}
	}
	c.ctx, c.meta, c.codec, c.srv, c.bind = ctx, meta, codec, srv, 0
	c.log = nil
	if srv != nil {
		c.log = srv.log
	}
}

// Context returns the request's context; it is cancelled when the server
// shuts down.
func (c *Ctx) Context() context.Context { return c.ctx }

// UserID returns the logged-in user, or 0 before login.
func (c *Ctx) UserID() int64 { return c.meta.UserID }

// Cmd returns the route's cmd.
func (c *Ctx) Cmd() int32 { return c.meta.Cmd }

// Sub returns the route's subCmd.
func (c *Ctx) Sub() int32 { return c.meta.Sub }

// CmdMerge returns the merged route, cmd<<16 | sub.
func (c *Ctx) CmdMerge() int32 { return c.meta.CmdMerge() }

// MsgID returns the client's msgId of this request.
func (c *Ctx) MsgID() int32 { return c.meta.MsgID }

// Session returns the session ID of the client connection, unique within
// its external server.
func (c *Ctx) Session() uint64 { return c.meta.Session }

// Gate returns the instance ID of the external server holding the client.
func (c *Ctx) Gate() string { return c.meta.Gate }

// Codec returns the codec of the client connection.
func (c *Ctx) Codec() wire.Codec { return c.codec }

// Buffer returns an empty buffer to append the encoded response to; its
// memory is reused across requests.
func (c *Ctx) Buffer() []byte { return c.buf[:0] }

// Bind logs the session in as userID: the external server binds the
// connection to the user before it relays this request's response, so the
// client's next request arrives as that user. Calling it again switches
// users. UserID reports the new user at once.
func (c *Ctx) Bind(userID int64) {
	c.bind = userID
	c.meta.UserID = userID
}

// Logger returns the server's logger.
func (c *Ctx) Logger() *slog.Logger { return c.logger() }

func (c *Ctx) logger() *slog.Logger {
	if c.log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.log
}
