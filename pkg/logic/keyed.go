package logic

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
)

// ErrStopped is returned by Server.Exec once the server has finished its
// work at shutdown.
var ErrStopped = errors.New("logic: server stopped")

// execKeyCtx marks the context handed to an Exec function with its key.
type execKeyCtx struct{}

// Exec runs fn on the executor of key — a room, a match, any state shared
// by several users — and returns at once. Everything submitted for one key
// runs one at a time in submission order, on a goroutine of its own, in
// parallel with users' requests and other keys; so the state of a room
// needs no lock if only functions run on its key touch it. Keys are a name
// space of their own: they never share an executor with a user.
//
// fn gets a context that is cancelled when the server shuts down. A panic
// in fn is recovered and logged. Exec returns ErrBusy, running nothing,
// when key already has Config.MaxPending functions waiting, and
// ErrStopped after shutdown has drained the executors (functions submitted
// by running requests and functions are still accepted while it drains).
func (s *Server) Exec(key string, fn func(context.Context)) error {
	if !s.running.Load() {
		return errNotStarted
	}
	return s.exec.submitFn(key, fn, nil, true)
}

var errNotStarted = errors.New("logic: server not started")

// ExecWait runs fn on the executor of key like Exec and waits until it
// has run, or until ctx ends (fn may still run later). Called from a
// function already running on key, it runs fn at once, inline, instead of
// deadlocking. Waiting on a key from a function of another key that in
// turn waits on the first deadlocks until ctx ends: keep waits one-way.
func (s *Server) ExecWait(ctx context.Context, key string, fn func(context.Context)) error {
	if k, ok := ctx.Value(execKeyCtx{}).(string); ok && k == key {
		fn(ctx)
		return nil
	}
	if !s.running.Load() {
		return errNotStarted
	}
	done := make(chan struct{})
	if err := s.exec.submitFn(key, fn, done, true); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Exec runs fn on the executor of key (Server.Exec) and returns at once;
// the handler goes on without waiting. fn may run after the handler has
// returned, when the Ctx is no longer valid: copy what fn needs from the
// Ctx (UserID, Client) before calling Exec.
func (c *Ctx) Exec(key string, fn func(context.Context)) error {
	if c.srv == nil {
		return ErrNoServer
	}
	// A running request holds its executor open: always accepted.
	return c.srv.exec.submitFn(key, fn, nil, false)
}

// ExecWait runs fn on the executor of key and waits until it has run
// (Server.ExecWait): the handler can then answer with what fn computed.
func (c *Ctx) ExecWait(key string, fn func(context.Context)) error {
	if c.srv == nil {
		return ErrNoServer
	}
	done := make(chan struct{})
	if err := c.srv.exec.submitFn(key, fn, done, false); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
}

// runFn runs an Exec task on its executor's goroutine.
func (s *Server) runFn(t task) {
	if t.done != nil {
		defer close(t.done)
	}
	defer func() {
		if p := recover(); p != nil {
			s.log.LogAttrs(s.ctx, slog.LevelError, "exec panic", slog.String("key", t.key),
				slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
		}
	}()
	t.fn(context.WithValue(s.ctx, execKeyCtx{}, t.key))
}
