package main

import (
	"context"
	"sync"
	"time"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
)

// cmdBasics is the cmd of the basic test routes.
const cmdBasics int32 = 20

// Routes of cmd 20.
const (
	subInstance int32 = 0 // → the serving instance's ID (public)
	subSlow     int32 = 1 // int32 ms → the serving instance's ID, after ms of exclusive work (public)
	// subSlowBounded is subSlow whose wait for its turn ends when the
	// caller stops waiting (Ctx.Deadline): -1000 "gave up waiting" then.
	subSlowBounded int32 = 2
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
	// The same capacity, as a handler should wait for a shared resource:
	// no longer than its caller waits, so that requests nobody waits for
	// any more leave the queue.
	turn := make(chan struct{}, 1)
	route.Handle(g, subSlowBounded, func(c *logic.Ctx, ms int32) (string, error) {
		ctx := c.Context()
		if d, ok := c.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, d)
			defer cancel()
		}
		select {
		case turn <- struct{}{}:
		case <-ctx.Done():
			return "", errs.ErrSystem.WithMsg("gave up waiting")
		}
		defer func() { <-turn }()
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return c.InstanceID(), nil
	}, route.Public())
}
