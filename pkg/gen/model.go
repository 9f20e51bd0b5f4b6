package gen

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/registry"
)

// Model is everything generators need: the services and the framework error
// codes.
type Model struct {
	Services []Service `json:"services"`
	// Framework is the framework's error codes (errs.Framework).
	Framework []errs.Info `json:"framework"`
}

// Service is one service's public surface. It is also the JSON that a
// logic service binary prints with -dump-routes.
type Service struct {
	Name   string  `json:"service"`
	Routes []Route `json:"routes"`
	Pushes []Push  `json:"pushes,omitempty"`
	// Errors is the error codes the service declares (route.Router.DeclareError).
	Errors []errs.Info `json:"errors,omitempty"`
	// Descriptors is a serialized google.protobuf.FileDescriptorSet with the
	// message types of the routes and pushes and the files they import.
	Descriptors []byte `json:"descriptors,omitempty"`
}

// Route is one request route.
type Route struct {
	Cmd    int32           `json:"cmd"`
	Sub    int32           `json:"sub"`
	Access registry.Access `json:"access"`
	Void   bool            `json:"void,omitempty"`
	// Req and Resp are protobuf full names; Resp is empty for void routes.
	Req  string `json:"req,omitempty"`
	Resp string `json:"resp,omitempty"`
	Doc  string `json:"doc,omitempty"`
	// Func, File and Line locate the handler's source, when known.
	Func string `json:"func,omitempty"`
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
}

// Push is one declared push route.
type Push struct {
	Cmd  int32  `json:"cmd"`
	Sub  int32  `json:"sub"`
	Type string `json:"type"`
	Doc  string `json:"doc,omitempty"`
}

// An ErrorSource declares a service's application error codes;
// *route.Router is one.
type ErrorSource interface {
	Errors() []errs.Info
}

// FromRouter builds the Service of a router: its routes, pushes (if src is
// a logic.PushSource), declared errors (if an ErrorSource) and descriptors
// from the linked-in protobuf registry.
func FromRouter(name string, src logic.RouteSource) (Service, error) {
	routes, err := src.Routes()
	if err != nil {
		return Service{}, fmt.Errorf("gen: service %s: %w", name, err)
	}
	var pushes []logic.PushRoute
	if ps, ok := src.(logic.PushSource); ok {
		pushes = ps.Pushes()
	}
	set, missing, err := logic.DescriptorSet(routes, pushes)
	if err != nil {
		return Service{}, fmt.Errorf("gen: service %s: %w", name, err)
	}
	if len(missing) > 0 {
		return Service{}, fmt.Errorf("gen: service %s: message types not linked in: %v", name, missing)
	}
	s := Service{Name: name, Descriptors: set}
	for _, r := range routes {
		s.Routes = append(s.Routes, Route{Cmd: r.Cmd, Sub: r.Sub, Access: r.Access, Void: r.Void,
			Req: r.Req, Resp: r.Resp, Doc: r.Doc, Func: r.Func, File: r.File, Line: r.Line})
	}
	for _, p := range pushes {
		s.Pushes = append(s.Pushes, Push{Cmd: p.Cmd, Sub: p.Sub, Type: p.Type, Doc: p.Doc})
	}
	if es, ok := src.(ErrorSource); ok {
		s.Errors = es.Errors()
	}
	s.sort()
	return s, nil
}

// FromRegistry builds services from a cluster's registry entries: one
// Service per service name of instances, with the routes of that service.
// Handler locations and declared errors are not in the registry.
func FromRegistry(instances []registry.Instance, routes []registry.Route) []Service {
	by := make(map[string]*Service)
	get := func(name string) *Service {
		if s := by[name]; s != nil {
			return s
		}
		s := &Service{Name: name}
		by[name] = s
		return s
	}
	for _, in := range instances {
		s := get(in.Service)
		if len(s.Descriptors) == 0 {
			s.Descriptors = in.Descriptors
		}
		for _, p := range in.Pushes {
			if !slices.ContainsFunc(s.Pushes, func(q Push) bool { return q.Cmd == p.Cmd && q.Sub == p.Sub }) {
				s.Pushes = append(s.Pushes, Push{Cmd: p.Cmd, Sub: p.Sub, Type: p.Type, Doc: p.Doc})
			}
		}
	}
	for _, r := range routes {
		s := get(r.Service)
		s.Routes = append(s.Routes, Route{Cmd: r.Cmd, Sub: r.Sub, Access: r.Effective(), Void: r.Void,
			Req: r.Req, Resp: r.Resp, Doc: r.Doc})
	}
	out := make([]Service, 0, len(by))
	for _, s := range by {
		s.sort()
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Service) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// ParseDump decodes the output of a service binary's -dump-routes.
func ParseDump(b []byte) (Service, error) {
	var s Service
	if err := json.Unmarshal(b, &s); err != nil {
		return Service{}, fmt.Errorf("gen: route dump: %w", err)
	}
	if s.Name == "" {
		return Service{}, fmt.Errorf("gen: route dump has no service name")
	}
	s.sort()
	return s, nil
}

// NewModel returns a model of the services, sorted by name, with the
// framework error codes.
func NewModel(services ...Service) Model {
	s := slices.Clone(services)
	slices.SortFunc(s, func(a, b Service) int { return cmp.Compare(a.Name, b.Name) })
	return Model{Services: s, Framework: errs.Framework()}
}

func (s *Service) sort() {
	slices.SortFunc(s.Routes, func(a, b Route) int {
		return cmp.Or(cmp.Compare(a.Cmd, b.Cmd), cmp.Compare(a.Sub, b.Sub))
	})
	slices.SortFunc(s.Pushes, func(a, b Push) int {
		return cmp.Or(cmp.Compare(a.Cmd, b.Cmd), cmp.Compare(a.Sub, b.Sub))
	})
	slices.SortFunc(s.Errors, func(a, b errs.Info) int { return cmp.Compare(a.Code, b.Code) })
}
