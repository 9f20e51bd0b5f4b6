package logic

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/registry"
	"github.com/iogo-dev/iogo/pkg/wire"
)

// Handler is the erased form of a route handler: it decodes the request
// payload in, runs the business code, and returns the encoded response,
// appended to c.Buffer().
type Handler func(c *Ctx, in []byte) (out []byte, err error)

// Middleware wraps a Handler: recovery, metrics, tracing and access checks
// compose as func(Handler) Handler.
type Middleware func(Handler) Handler

// Route is one registered route of a logic server.
type Route struct {
	Cmd, Sub int32
	// Handler serves the route, middleware included.
	Handler Handler
	// Void routes send no response on success (request/void); errors are
	// still answered.
	Void bool
	// Req and Resp are the protobuf full names of the payload types.
	Req, Resp string
	// Doc is the route's documentation.
	Doc string
	// Access says who may call the route; the zero value, AccessLogin,
	// needs a logged-in session. External servers enforce it from the
	// route registry, where the server publishes it at start.
	Access registry.Access
	// Func, File and Line locate the business handler's source.
	Func string
	File string
	Line int

	// load is the route's handler-time estimate and shed counts
	// (shed.go), shared by the copies of a table's route; nil outside a
	// Table.
	load *routeLoad
}

// CmdMerge returns the merged route, cmd<<16 | sub.
func (r *Route) CmdMerge() int32 { return wire.Merge(r.Cmd, r.Sub) }

// String returns "cmd-sub".
func (r *Route) String() string { return fmt.Sprintf("%d-%d", r.Cmd, r.Sub) }

// Source returns "file:line" of the business handler.
func (r *Route) Source() string { return source(r.File, r.Line) }

// source formats a declaration's position as "file:line", or "?" when it
// is unknown (a method value's compiler-made wrapper has none).
func source(file string, line int) string {
	if file == "" {
		return "?"
	}
	return fmt.Sprintf("%s:%d", file, line)
}

// errSessionGone answers a request whose handler returned ErrSessionGone.
var errSessionGone = errs.ErrSystem.WithMsg("client session gone")

// Serve runs the route's handler for one request. A panic is recovered,
// logged with its stack and returned as errs.ErrSystem; any error that is
// not an *errs.Error is logged and returned as errs.ErrSystem, so internal
// details never reach a client; ErrSessionGone is returned as
// errs.ErrSystem too, logged at debug level only.
func (r *Route) Serve(c *Ctx, in []byte) (out []byte, err *errs.Error) {
	defer func() {
		if p := recover(); p != nil {
			c.logger().LogAttrs(c.Context(), slog.LevelError, "handler panic",
				slog.String("route", r.String()), slog.String("handler", r.Func),
				slog.String("source", r.Source()), slog.Int64("user", c.meta.UserID),
				slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			out, err = nil, errs.ErrSystem
		}
	}()
	out, e := r.Handler(c, in)
	if e == nil {
		return out, nil
	}
	err = errs.From(e)
	if err == errs.ErrSystem && e != errs.ErrSystem {
		if errors.Is(e, ErrSessionGone) {
			// The client left while its request ran: nobody reads the
			// answer, and it is no failure of the handler.
			c.logger().LogAttrs(c.Context(), slog.LevelDebug, "client session gone during the handler",
				slog.String("route", r.String()), slog.Any("error", e))
			return nil, errSessionGone
		}
		c.logger().LogAttrs(c.Context(), slog.LevelError, "handler error",
			slog.String("route", r.String()), slog.String("handler", r.Func),
			slog.String("source", r.Source()), slog.Int64("user", c.meta.UserID),
			slog.Any("error", e))
	}
	return nil, err
}

// PushRoute is a declared push: a route on which the server sends messages
// to clients without a request (see Client.Push). Declaring pushes lets the
// registry, API docs and generated client SDKs know their payload types.
type PushRoute struct {
	Cmd, Sub int32
	// Type is the protobuf full name of the payload.
	Type string
	// Doc is the push's documentation.
	Doc string
}

// CmdMerge returns the merged route, cmd<<16 | sub.
func (p *PushRoute) CmdMerge() int32 { return wire.Merge(p.Cmd, p.Sub) }

// String returns "cmd-sub".
func (p *PushRoute) String() string { return fmt.Sprintf("%d-%d", p.Cmd, p.Sub) }
