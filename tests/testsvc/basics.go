package main

import (
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
)

// cmdBasics is the cmd of the basic test routes.
const cmdBasics int32 = 20

// registerBasics registers routes that report which process served them.
func registerBasics(r *route.Router) {
	g := r.Group(cmdBasics)
	// 20-0: returns the ID of the instance that served the request.
	route.Handle(g, 0, func(c *logic.Ctx, _ string) (string, error) { return c.InstanceID(), nil }, route.Public())
}
