package external

import (
	"context"
	"fmt"
	"slices"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/registry"
	"github.com/nats-io/nats.go/jetstream"
)

// openRegistry binds to the framework buckets and starts the route view,
// which follows the registry until life ends (s.endLife, when shutdown
// begins). It waits for the view's first complete picture, within ctx.
func (s *Server) openRegistry(ctx, life context.Context) error {
	js, err := jetstream.New(s.nc)
	if err != nil {
		return fmt.Errorf("external: jetstream: %w", err)
	}
	if s.reg, err = registry.Open(ctx, js); err != nil {
		return fmt.Errorf("external: route registry: %w", err)
	}
	// Watch's context is the view's whole life; ctx bounds only its start.
	stop := context.AfterFunc(ctx, s.endLife)
	view, err := s.reg.Watch(life, s.log)
	if !stop() {
		err = fmt.Errorf("external: route registry: %w", context.Cause(ctx))
	}
	if err != nil {
		if view != nil {
			s.endLife()
			<-view.Done()
		}
		return err
	}
	s.view = view
	s.types = newTranscoder(view.Instances, s.log)
	view.OnChange(s.types.changed)
	return nil
}

// target decides where a client's request to (cmd, sub) goes, from the
// route view and the session's login and logic bindings, without I/O. It
// returns the subject to publish on and whether that subject names one
// bound instance, or the error to answer the client with:
//
//   - a route no live instance serves, or an internal one: ErrRouteNotFound;
//   - a login route on a session not logged in: ErrLoginRequired;
//   - a route of a service the user is bound to, whose bound instance no
//     longer serves it: ErrLogicGone.
func (s *Server) target(sess *session, cmd, sub int32) (subject string, bound bool, e *errs.Error) {
	sv, ok := s.view.Lookup(cmd, sub)
	if !ok {
		return "", false, errs.ErrRouteNotFound
	}
	switch sv.Effective() {
	case registry.AccessPublic:
	case registry.AccessLogin:
		if sess.userID.Load() == 0 {
			return "", false, errs.ErrLoginRequired
		}
	default: // internal, or a rule newer than this gate: closed to clients
		return "", false, errs.ErrRouteNotFound
	}
	if inst := sess.ctl.logicFor(sv.Service); inst != "" {
		if !slices.Contains(sv.Instances, inst) {
			return "", false, errs.ErrLogicGone
		}
		return fabric.Instance(inst, cmd, sub), true, nil
	}
	return fabric.Request(cmd, sub), false, nil
}
