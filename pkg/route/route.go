// Package route registers typed handlers on routes (cmd, subCmd).
//
// A route is a pair of 16-bit numbers: cmd names a group of actions (a
// module, such as login or guild) and subCmd an action in it. Handlers are
// plain typed functions; Handle turns each into the erased logic.Handler once,
// at registration, so the hot path does no reflection:
//
//	r := route.NewRouter()
//	user := r.Group(1)
//	route.Handle(user, 0, func(c *logic.Ctx, req *pb.LoginVerify) (*pb.User, error) { ... })
//	route.Handle(user, 1, func(c *logic.Ctx, id int64) (string, error) { ... })
//
// Request and response types are protobuf messages, the bare values int32,
// int64, bool, string, []byte, slices of those, or slices of messages (see
// wire.ValueOf). Registration mistakes — a duplicate route, an unsupported
// type — are collected and reported by Routes, so a logic server refuses to
// start with them, as http.ServeMux refuses conflicting patterns.
//
// A request message whose .proto carries buf.validate (protovalidate)
// rules is checked before the handler runs, for clients and for other
// servers' calls alike: a request that breaks a rule is answered -1001
// (errs.ErrValidation) with each broken rule as "field.path: message
// [rule.id]", and the handler does not run. The rules are compiled once, at
// registration; a request type without rules costs nothing.
//
// Routes need a logged-in session unless registered with Public (login
// itself); Internal routes serve other servers only. DeclarePush records
// the routes on which the service pushes to clients, with their payload
// type, for the registry and generated client SDKs; DeclareError names the
// error codes a service returns, for API docs and SDK error enums.
//
// A Router is built by one goroutine before the server starts; it is not
// safe for concurrent registration.
package route

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/registry"
	"github.com/iogo-dev/iogo/pkg/wire"
)

// Router collects the routes of one service.
type Router struct {
	mw     []logic.Middleware
	routes []*entry
	pushes []logic.PushRoute
	events []logic.Subscription // Subscribe (event.go)
	codes  []errs.Info          // DeclareError (errors.go)
	errs   []error
}

// Group is the routes of one cmd, with middleware of their own.
type Group struct {
	r   *Router
	cmd int32
	mw  []logic.Middleware
}

type entry struct {
	route logic.Route
	group *Group
}

// An Option adjusts one route at registration.
type Option func(*logic.Route)

// Doc documents a route or a push; generated client SDKs and API docs show
// it.
func Doc(text string) Option { return func(r *logic.Route) { r.Doc = text } }

// Public opens a route to sessions that have not logged in (login itself,
// server lists). Routes need a logged-in session by default.
func Public() Option { return func(r *logic.Route) { r.Access = registry.AccessPublic } }

// Internal makes a route reachable from other servers only (Call, Send,
// CallAll): external servers answer clients as if it did not exist.
func Internal() Option { return func(r *logic.Route) { r.Access = registry.AccessInternal } }

// NewRouter returns an empty router.
func NewRouter() *Router { return &Router{} }

// Use adds middleware that wraps every route of the router, outermost first.
func (r *Router) Use(mw ...logic.Middleware) { r.mw = append(r.mw, mw...) }

// Group returns the group of routes with the given cmd (0..32767). Groups
// with the same cmd share the route space; a route registered twice is an
// error.
func (r *Router) Group(cmd int32, mw ...logic.Middleware) *Group {
	if cmd < 0 || cmd > 1<<15-1 {
		r.errs = append(r.errs, fmt.Errorf("route: cmd %d out of range 0..32767", cmd))
	}
	return &Group{r: r, cmd: cmd, mw: mw}
}

// Use adds middleware that wraps every route of the group, inside the
// router's middleware.
func (g *Group) Use(mw ...logic.Middleware) { g.mw = append(g.mw, mw...) }

// Cmd returns the group's cmd.
func (g *Group) Cmd() int32 { return g.cmd }

// Routes returns the registered routes with their middleware applied, or the
// registration errors. It implements logic.RouteSource.
func (r *Router) Routes() ([]logic.Route, error) {
	errList := slices.Clone(r.errs)
	seen := make(map[int32]*logic.Route, len(r.routes))
	out := make([]logic.Route, 0, len(r.routes))
	for _, e := range r.routes {
		rt := e.route
		if prev, dup := seen[rt.CmdMerge()]; dup {
			errList = append(errList, fmt.Errorf("route: duplicate route %s: %s (%s) and %s (%s)",
				rt.String(), prev.Func, prev.Source(), rt.Func, rt.Source()))
			continue
		}
		seen[rt.CmdMerge()] = &e.route
		for i := len(e.group.mw) - 1; i >= 0; i-- {
			rt.Handler = e.group.mw[i](rt.Handler)
		}
		for i := len(r.mw) - 1; i >= 0; i-- {
			rt.Handler = r.mw[i](rt.Handler)
		}
		out = append(out, rt)
	}
	if err := errors.Join(errList...); err != nil {
		return nil, err
	}
	return out, nil
}

// Handle registers fn as the handler of route (g.Cmd(), sub): a
// request/response action.
func Handle[Req, Resp any](g *Group, sub int32, fn func(*logic.Ctx, Req) (Resp, error), opts ...Option) {
	in, errIn := wire.ValueOf[Req]()
	out, errOut := wire.ValueOf[Resp]()
	check, errCheck := newChecker[Req]()
	if err := errors.Join(errIn, errOut, errCheck); err != nil {
		g.r.errs = append(g.r.errs, fmt.Errorf("route %d-%d: %w", g.cmd, sub, err))
		return
	}
	h := func(c *logic.Ctx, data []byte) ([]byte, error) {
		req, err := in.Unmarshal(data, c.Codec())
		if err != nil {
			return nil, errs.ErrValidation.WithMsg("malformed request data")
		}
		if check != nil {
			if err := check(req); err != nil {
				return nil, err
			}
		}
		resp, err := fn(c, req)
		if err != nil {
			return nil, err
		}
		return out.Append(c.Buffer(), c.Codec(), resp)
	}
	g.add(sub, fn, h, in.TypeName(), out.TypeName(), false, opts)
}

// HandleVoid registers fn as a request/void action: on success the client
// gets no response; an error is still answered.
func HandleVoid[Req any](g *Group, sub int32, fn func(*logic.Ctx, Req) error, opts ...Option) {
	in, errIn := wire.ValueOf[Req]()
	check, errCheck := newChecker[Req]()
	if err := errors.Join(errIn, errCheck); err != nil {
		g.r.errs = append(g.r.errs, fmt.Errorf("route %d-%d: %w", g.cmd, sub, err))
		return
	}
	h := func(c *logic.Ctx, data []byte) ([]byte, error) {
		req, err := in.Unmarshal(data, c.Codec())
		if err != nil {
			return nil, errs.ErrValidation.WithMsg("malformed request data")
		}
		if check != nil {
			if err := check(req); err != nil {
				return nil, err
			}
		}
		return nil, fn(c, req)
	}
	g.add(sub, fn, h, in.TypeName(), "", true, opts)
}

func (g *Group) add(sub int32, fn any, h logic.Handler, req, resp string, void bool, opts []Option) {
	if sub < 0 || sub > 0xffff {
		g.r.errs = append(g.r.errs, fmt.Errorf("route: subCmd %d of cmd %d out of range 0..65535", sub, g.cmd))
		return
	}
	rt := logic.Route{Cmd: g.cmd, Sub: sub, Handler: h, Void: void, Req: req, Resp: resp}
	// Reflection at registration only: locate the business function so that
	// logs and docs can point at its source.
	rt.Func, rt.File, rt.Line = funcSource(fn)
	for _, o := range opts {
		o(&rt)
	}
	g.r.routes = append(g.r.routes, &entry{route: rt, group: g})
}

// funcSource returns the full name of function fn and where it is declared.
// A method value (m.hello) is named after its method ("pkg.(*M).hello", not
// the compiler's "pkg.(*M).hello-fm" wrapper); the wrapper has no source
// position of its own, so file is "" and line 0 for it.
func funcSource(fn any) (name, file string, line int) {
	f := runtime.FuncForPC(reflect.ValueOf(fn).Pointer())
	if f == nil {
		return "", "", 0
	}
	name, wrapper := strings.CutSuffix(f.Name(), "-fm")
	if wrapper {
		return name, "", 0
	}
	file, line = f.FileLine(f.Entry())
	return name, file, line
}
