package logic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/nats-io/nats.go"
)

// Errors of Ctx actions.
var (
	// ErrNoServer is returned by a Ctx action that needs the cluster when
	// the Ctx was made by NewCtx, outside any server.
	ErrNoServer = errors.New("logic: no server (a Ctx from NewCtx)")
	// ErrNoSession is returned by a session action (Bind, SetAttr) on a
	// request that did not come from a client session, such as a call
	// from another server.
	ErrNoSession = errors.New("logic: request has no client session")
	// ErrSessionGone is returned by a session action (Bind, Unbind,
	// SetAttr, SetAttrs) when the client's session closed before the
	// action reached its external server, or that server is gone: the
	// client disconnected while its request ran, and nobody waits for the
	// answer. A handler may return it as it is: the server answers
	// errs.ErrSystem without logging it at error level (a disconnect is
	// not a failure of the handler), and the route's stats count it.
	ErrSessionGone = errors.New("logic: client session gone")
)

// sessionErr turns the error of a control request to the session's gate
// into ErrSessionGone when the session or its gate is gone. An external
// server refuses an action on a session it does not hold (closed, or
// never there) with fabric.ControlReply.Gone, which control already
// turned into ErrSessionGone; a gate that is gone has no responder
// (ErrOffline).
func sessionErr(err error) error {
	if errors.Is(err, ErrOffline) {
		return fmt.Errorf("%w: gate gone", ErrSessionGone)
	}
	return err
}

// Ctx is the context of one request inside a handler: who sent it, on which
// route, in which codec, and the actions a handler can take on its session,
// its user and the cluster. It is valid only during the handler call.
type Ctx struct {
	ctx   context.Context
	meta  fabric.Meta
	codec wire.Codec
	srv   *Server
	log   *slog.Logger
	buf   []byte

	attrs       url.Values // parsed from meta.Attrs on first use
	attrsParsed bool
	event       nats.Header // the event's headers, in an event handler
	deadline    time.Time   // when the caller stops waiting; zero for never
}

// NewCtx returns a Ctx for a request with the given metadata, outside any
// server: for unit tests of handlers and for tools. A nil codec means
// protobuf; a nil ctx means context.Background(). Outside a server, Bind
// and SetAttr only record their effect on the Ctx (UserID, Attr), and the
// actions that need the cluster return ErrNoServer.
func NewCtx(ctx context.Context, meta fabric.Meta, codec wire.Codec) *Ctx {
	c := &Ctx{buf: make([]byte, 0, 256)}
	c.reset(ctx, meta, codec, nil)
	if meta.Timeout > 0 {
		c.deadline = time.Now().Add(meta.Timeout)
	}
	return c
}

func (c *Ctx) reset(ctx context.Context, meta fabric.Meta, codec wire.Codec, srv *Server) {
	if ctx == nil {
		ctx = context.Background()
	}
	if codec == nil {
		codec = wire.Protobuf{}
	}
	c.ctx, c.meta, c.codec, c.srv = ctx, meta, codec, srv
	c.attrs, c.attrsParsed = nil, false
	c.event = nil
	c.deadline = time.Time{}
	c.log = nil
	if srv != nil {
		c.log = srv.log
	}
}

// Context returns the request's context; it is cancelled when the server
// shuts down.
func (c *Ctx) Context() context.Context { return c.ctx }

// Deadline returns when the request's caller stops waiting for the answer
// (its fabric.HeaderTimeout counted from the request's arrival), and false
// when the caller set no timeout. The request's Context does not end
// then — a handler is never cut off half-way — but a handler that waits
// for a shared resource (a semaphore, a lock, a pool) can bound the wait
// with it, so that requests nobody waits for any more do not hold a
// queue that later ones stand behind:
//
//	if d, ok := c.Deadline(); ok {
//		ctx, cancel = context.WithDeadline(ctx, d)
//		defer cancel()
//	}
func (c *Ctx) Deadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }

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

// Service returns the name of the service serving the request; "" outside
// a server.
func (c *Ctx) Service() string {
	if c.srv == nil {
		return ""
	}
	return c.srv.Service()
}

// InstanceID returns the ID of the instance serving the request; "" outside
// a server.
func (c *Ctx) InstanceID() string {
	if c.srv == nil {
		return ""
	}
	return c.srv.InstanceID()
}

// Client returns the server's cluster client, or nil outside a server.
func (c *Ctx) Client() *Client {
	if c.srv == nil {
		return nil
	}
	return c.srv.client
}

// Bind logs the session in as userID. It asks the external server holding
// the session, and returns once that server has claimed the user
// cluster-wide (kicking the user's previous session, anywhere, with
// errs.CodeForcedOffline) and bound the session: the client's next request
// arrives as userID, and pushes to userID reach it. UserID reports the new
// user at once. Calling it again switches users. It returns ErrSessionGone
// when the client disconnected before the bind reached its external
// server.
func (c *Ctx) Bind(userID int64) error {
	if userID == 0 {
		return errs.ErrValidation.WithMsg("logic: bind to user 0")
	}
	if c.srv == nil {
		c.meta.UserID = userID
		return nil
	}
	if c.meta.Gate == "" {
		return ErrNoSession
	}
	_, err := c.srv.client.control(c.ctx, fabric.GateControl(c.meta.Gate),
		fabric.Control{Op: fabric.OpBind, Session: c.meta.Session, User: userID})
	if err != nil {
		return sessionErr(err)
	}
	c.meta.UserID = userID
	return nil
}

// Unbind logs the request's session out (a logout): the connection stays
// open, anonymous, so routes that need a login answer -1004 again until the
// next Bind, and the user's pushes no longer reach it. The rest of this
// request sees UserID 0. It returns ErrSessionGone when the client
// disconnected meanwhile.
func (c *Ctx) Unbind() error {
	if c.srv == nil {
		c.meta.UserID = 0
		return nil
	}
	if c.meta.Gate == "" {
		return ErrNoSession
	}
	if _, err := c.srv.client.control(c.ctx, fabric.GateControl(c.meta.Gate),
		fabric.Control{Op: fabric.OpUnbind, Session: c.meta.Session}); err != nil {
		return sessionErr(err)
	}
	c.meta.UserID = 0
	return nil
}

// Attr returns the session attribute key, "" when unset. Attributes travel
// with every request of the session, so reading them costs no round trip.
func (c *Ctx) Attr(key string) string { return c.Attrs().Get(key) }

// Attrs returns the session's attributes as they were when the request was
// sent, plus the changes made by SetAttr during this request. The map
// belongs to the Ctx: read it, do not keep it.
func (c *Ctx) Attrs() url.Values {
	if !c.attrsParsed {
		c.attrsParsed = true
		if c.meta.Attrs != "" {
			v, err := url.ParseQuery(c.meta.Attrs)
			if err != nil {
				c.logger().Warn("malformed session attributes", slog.Any("error", err))
			}
			c.attrs = v
		}
	}
	return c.attrs
}

// SetAttr sets the session attribute key to value ("" deletes it) at the
// external server holding the session; the session's later requests carry
// it. It returns once the external server has applied it.
func (c *Ctx) SetAttr(key, value string) error {
	return c.SetAttrs(map[string]string{key: value})
}

// SetAttrs merges attrs into the session's attributes, like SetAttr; it
// returns ErrSessionGone when the client disconnected meanwhile.
func (c *Ctx) SetAttrs(attrs map[string]string) error {
	if c.srv != nil {
		if c.meta.Gate == "" {
			return ErrNoSession
		}
		_, err := c.srv.client.control(c.ctx, fabric.GateControl(c.meta.Gate),
			fabric.Control{Op: fabric.OpSetAttrs, Session: c.meta.Session, User: c.meta.UserID, Attrs: attrs})
		if err != nil {
			return sessionErr(err)
		}
	}
	cur := c.Attrs()
	if cur == nil {
		cur = url.Values{}
		c.attrs = cur
	}
	for k, v := range attrs {
		if v == "" {
			cur.Del(k)
		} else {
			cur.Set(k, v)
		}
	}
	return nil
}

// Logger returns the server's logger.
func (c *Ctx) Logger() *slog.Logger { return c.logger() }

func (c *Ctx) logger() *slog.Logger {
	if c.log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.log
}

// cl returns the server's client, or ErrNoServer.
func (c *Ctx) cl() (*Client, error) {
	if c.srv == nil || c.srv.client == nil {
		return nil, ErrNoServer
	}
	return c.srv.client, nil
}
