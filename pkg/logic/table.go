package logic

import (
	"fmt"
	"slices"
)

// A RouteSource supplies the routes a logic server serves; *route.Router is
// one. An error (a duplicate route, an unsupported payload type) stops the
// server at start-up.
type RouteSource interface {
	Routes() ([]Route, error)
}

// A PushSource declares the pushes a service sends. A RouteSource that is
// also a PushSource (as *route.Router is) has its pushes published in the
// registry with their message types.
type PushSource interface {
	Pushes() []PushRoute
}

// maxCmd bounds the cmd and sub of a route: both are 16-bit halves of the
// merged route.
const maxCmd = 1<<15 - 1

// Table finds the Route of a (cmd, sub) pair in constant time, through two
// levels of slices indexed by cmd and sub. It is immutable once built and
// safe for concurrent use.
type Table struct {
	cmds   [][]*Route
	routes []Route
}

// NewTable builds a table of routes; a duplicate or out-of-range route is
// an error.
func NewTable(routes []Route) (*Table, error) {
	t := &Table{routes: slices.Clone(routes)}
	for i := range t.routes {
		r := &t.routes[i]
		if r.Cmd < 0 || r.Cmd > maxCmd || r.Sub < 0 || r.Sub > 0xffff {
			return nil, fmt.Errorf("logic: route %s out of range", r)
		}
		if r.Handler == nil {
			return nil, fmt.Errorf("logic: route %s has no handler", r)
		}
		r.load = new(routeLoad)
		if int(r.Cmd) >= len(t.cmds) {
			t.cmds = append(t.cmds, make([][]*Route, int(r.Cmd)+1-len(t.cmds))...)
		}
		subs := t.cmds[r.Cmd]
		if int(r.Sub) >= len(subs) {
			subs = append(subs, make([]*Route, int(r.Sub)+1-len(subs))...)
			t.cmds[r.Cmd] = subs
		}
		if prev := subs[r.Sub]; prev != nil {
			return nil, fmt.Errorf("logic: duplicate route %s: %s (%s) and %s (%s)",
				r, prev.Func, prev.Source(), r.Func, r.Source())
		}
		subs[r.Sub] = r
	}
	return t, nil
}

// Lookup returns the route (cmd, sub), or nil.
func (t *Table) Lookup(cmd, sub int32) *Route {
	if uint32(cmd) >= uint32(len(t.cmds)) {
		return nil
	}
	subs := t.cmds[cmd]
	if uint32(sub) >= uint32(len(subs)) {
		return nil
	}
	return subs[sub]
}

// Routes returns the table's routes in registration order. The slice is
// shared; do not modify it.
func (t *Table) Routes() []Route { return t.routes }
