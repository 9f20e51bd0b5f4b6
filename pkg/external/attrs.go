package external

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"sync"
	"sync/atomic"
)

// Bounds of a session's attributes, checked whenever they change. Every
// forwarded request carries them in a NATS header, so they stay small.
const (
	// MaxAttrs is the most attributes one session may hold.
	MaxAttrs = 64
	// MaxAttrsBytes bounds the attributes' encoded size (URL-query form, as
	// sent in fabric.HeaderAttrs).
	MaxAttrsBytes = 4 << 10
)

// ErrAttrs is wrapped by the error of a change to session attributes that
// would break a bound or uses an empty key; the session keeps its
// attributes unchanged.
var ErrAttrs = errors.New("external: session attributes")

// sessionCtl is the part of a session that control messages change: its
// attributes and its user's player-to-logic-server bindings, and the state
// of a bind in progress.
//
// Attributes and bindings form one immutable ctlState that writers replace
// whole under mu (copy on write), so the reader goroutine reads both with
// one atomic load per request and takes no lock.
type sessionCtl struct {
	mu       sync.Mutex // serializes writers of st; a leaf lock
	st       atomic.Pointer[ctlState]
	logicGen uint64 // counts changes by OpBindLogic; guarded by mu

	// bindMu serializes the OpBind requests of the session. It is held
	// across broker I/O and taken before Server.mu (bind.go).
	bindMu sync.Mutex
	// claim is the user an OpBind in progress is binding the session to,
	// 0 when none: a kick aimed at that user's previous session may find
	// this one before it is bound (bind.go).
	claim atomic.Int64
	// kickedFrom is the user a kick detached the session from, for
	// removeSession to release in the registry (control.go).
	kickedFrom atomic.Int64
}

// ctlState is an immutable snapshot of a session's attributes and logic
// bindings.
type ctlState struct {
	attrs map[string]string
	enc   string            // attrs in URL-query form; "" when empty
	logic map[string]string // service → instanceID
}

var emptyState ctlState

func (c *sessionCtl) load() *ctlState {
	if st := c.st.Load(); st != nil {
		return st
	}
	return &emptyState
}

// attrsHeader returns the attributes as sent in fabric.HeaderAttrs.
func (c *sessionCtl) attrsHeader() string { return c.load().enc }

// attrs returns a copy of the attributes.
func (c *sessionCtl) attrs() map[string]string { return maps.Clone(c.load().attrs) }

// logicFor returns the instance the session's user is bound to for
// service, or "".
func (c *sessionCtl) logicFor(service string) string {
	if l := c.load().logic; l != nil {
		return l[service]
	}
	return ""
}

// setAttrs merges set into the attributes; an empty value deletes its key.
// A change that would leave more than MaxAttrs keys or more than
// MaxAttrsBytes encoded, or that has an empty key, fails and changes
// nothing.
func (c *sessionCtl) setAttrs(set map[string]string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.load()
	next := maps.Clone(cur.attrs)
	if next == nil {
		next = make(map[string]string, len(set))
	}
	for k, v := range set {
		if k == "" {
			return fmt.Errorf("%w: empty key", ErrAttrs)
		}
		if v == "" {
			delete(next, k)
		} else {
			next[k] = v
		}
	}
	if len(next) > MaxAttrs {
		return fmt.Errorf("%w: %d keys, at most %d allowed", ErrAttrs, len(next), MaxAttrs)
	}
	enc := encodeAttrs(next)
	if len(enc) > MaxAttrsBytes {
		return fmt.Errorf("%w: %d bytes encoded, at most %d allowed", ErrAttrs, len(enc), MaxAttrsBytes)
	}
	if len(next) == 0 {
		next = nil
	}
	c.st.Store(&ctlState{attrs: next, enc: enc, logic: cur.logic})
	return nil
}

// bindLogic binds the session's user to instance for service, or removes
// that binding when instance is "".
func (c *sessionCtl) bindLogic(service, instance string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.load()
	next := maps.Clone(cur.logic)
	if instance == "" {
		delete(next, service)
	} else {
		if next == nil {
			next = make(map[string]string, 1)
		}
		next[service] = instance
	}
	if len(next) == 0 {
		next = nil
	}
	c.logicGen++
	c.st.Store(&ctlState{attrs: cur.attrs, enc: cur.enc, logic: next})
}

// setLogic replaces the logic bindings with a copy of logic, as loaded from
// the user's registry entry, and returns the change counter after it.
func (c *sessionCtl) setLogic(logic map[string]string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.replaceLogicLocked(logic)
	return c.logicGen
}

// refreshLogic replaces the logic bindings like setLogic, unless an
// OpBindLogic has changed them since the counter was gen: that change is
// newer than the entry being applied.
func (c *sessionCtl) refreshLogic(logic map[string]string, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.logicGen == gen {
		c.replaceLogicLocked(logic)
	}
}

func (c *sessionCtl) replaceLogicLocked(logic map[string]string) {
	cur := c.load()
	if len(logic) == 0 {
		logic = nil
	} else {
		logic = maps.Clone(logic)
	}
	c.st.Store(&ctlState{attrs: cur.attrs, enc: cur.enc, logic: logic})
}

// encodeAttrs returns attrs in URL-query form with sorted keys, "" when
// there are none.
func encodeAttrs(attrs map[string]string) string {
	if len(attrs) == 0 {
		return ""
	}
	v := make(url.Values, len(attrs))
	for k, x := range attrs {
		v[k] = []string{x}
	}
	return v.Encode()
}
