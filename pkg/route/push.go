package route

import (
	"fmt"

	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/wire"
)

// DeclarePush declares that the service pushes messages of type T to
// clients on route (g.Cmd(), sub), and returns the declaration. Pushes are
// sent with logic.Client.Push and its Ctx shortcuts; declaring them lets
// the registry, API docs and generated client SDKs know the payload type.
// T is a protobuf message or a bare value (sent in its ioGame wrapper, see
// logic.Wrap). Only Doc among the options applies.
//
// A push may share its route with a request route (a client often listens
// on the route it sends on); declaring the same push route twice is an
// error, reported by Routes.
func DeclarePush[T any](g *Group, sub int32, opts ...Option) logic.PushRoute {
	p := logic.PushRoute{Cmd: g.cmd, Sub: sub}
	val, err := wire.ValueOf[T]()
	if err != nil {
		g.r.errs = append(g.r.errs, fmt.Errorf("push %d-%d: %w", g.cmd, sub, err))
		return p
	}
	if sub < 0 || sub > 0xffff {
		g.r.errs = append(g.r.errs, fmt.Errorf("push: subCmd %d of cmd %d out of range 0..65535", sub, g.cmd))
		return p
	}
	p.Type = val.TypeName()
	var rt logic.Route
	for _, o := range opts {
		o(&rt)
	}
	p.Doc = rt.Doc
	for _, prev := range g.r.pushes {
		if prev.Cmd == p.Cmd && prev.Sub == p.Sub {
			g.r.errs = append(g.r.errs, fmt.Errorf("route: duplicate push %s (%s and %s)", p.String(), prev.Type, p.Type))
			return p
		}
	}
	g.r.pushes = append(g.r.pushes, p)
	return p
}

// Pushes returns the declared pushes in declaration order. It implements
// logic.PushSource.
func (r *Router) Pushes() []logic.PushRoute { return append([]logic.PushRoute(nil), r.pushes...) }
