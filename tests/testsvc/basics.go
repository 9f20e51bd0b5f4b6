package main

import (
	"os"

	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
)

// cmdBasics is the cmd of the basic test routes.
const cmdBasics int32 = 20

// registerBasics registers routes that report which process served them.
func registerBasics(r *route.Router) {
	g := r.Group(cmdBasics)
	// 20-0: returns this process's instance ID (from IOGO_TESTSVC_ID).
	route.Handle(g, 0, func(c *logic.Ctx, _ string) (string, error) { return os.Getenv("IOGO_TESTSVC_ID"), nil })
}
