// Package logic is the logic-server runtime: it connects to the broker (a
// logic server dials out and never listens), subscribes the routes of one
// service with the service's queue group, runs each request on the
// executor of its user and answers over NATS.
//
// # Ordering and concurrency
//
// All route subscriptions of a server feed one dispatch loop, which keeps the
// broker's delivery order. The loop hands each request to the executor of
// its key: the userID, or the session for a client that has not logged in.
// An executor runs its requests one at a time in arrival order on a
// goroutine of its own that exists only while it has work, so requests of
// one user never race and never reorder, different users run in parallel,
// and a slow handler blocks nobody but its own user. There is no shared
// worker pool to exhaust. Each executor's queue is bounded (Config.MaxPending);
// a request beyond the bound is answered at once with a "server busy"
// error instead of being dropped.
//
// # Handlers
//
// Handlers are registered with package route, which turns typed functions
// into the erased Handler of this package. A Ctx is valid only during its
// handler call; do not keep it.
package logic
