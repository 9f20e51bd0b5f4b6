package main

import (
	"sync"
	"time"

	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
)

// cmdBasics is the cmd of the basic test routes.
const cmdBasics int32 = 20

// Routes of cmd 20.
const (
	subInstance int32 = 0 // → the serving instance's ID (public)
	subSlow     int32 = 1 // int32 ms → the serving instance's ID, after ms of exclusive work (public)
)

// registerBasics registers routes that report which process served them.
func registerBasics(r *route.Router) {
	g := r.Group(cmdBasics)
	route.Handle(g, subInstance, func(c *logic.Ctx, _ string) (string, error) { return c.InstanceID(), nil }, route.Public())
	// The slow route models a handler with a fixed capacity: one request at
	// a time per process, each taking the given time, whatever the number
	// of users — 1000/ms requests per second, however many are offered.
	var busy sync.Mutex
	route.Handle(g, subSlow, func(c *logic.Ctx, ms int32) (string, error) {
		busy.Lock()
		defer busy.Unlock()
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return c.InstanceID(), nil
	}, route.Public())
}
