package route

import (
	"fmt"
	"slices"

	"github.com/iogo-dev/iogo/pkg/errs"
)

// DeclareError declares an error the service's routes return, under a
// name, for API docs and the error-code enums of generated client SDKs
// (package gen). Framework codes (errs.Framework) are always listed; declare
// the service's own codes, usually positive:
//
//	var ErrNoGold = errs.New(1001, "not enough gold")
//	r.DeclareError("NoGold", ErrNoGold)
//
// Declaring a name twice is a registration error, reported by Routes.
func (r *Router) DeclareError(name string, e *errs.Error) {
	for _, c := range r.codes {
		if c.Name == name {
			r.errs = append(r.errs, fmt.Errorf("route: error %s (code %d) declared twice", name, e.Code))
			return
		}
	}
	r.codes = append(r.codes, errs.Info{Code: e.Code, Name: name, Msg: e.Msg})
}

// Errors returns the declared errors in declaration order. It implements
// gen.ErrorSource.
func (r *Router) Errors() []errs.Info { return slices.Clone(r.codes) }
