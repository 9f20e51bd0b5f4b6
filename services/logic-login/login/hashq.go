package login

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// hashClass is what a password hash is for. Each class has its own
// queue, so that one kind of request cannot crowd out the other.
type hashClass int

const (
	// hashLogin checks a password at login (PasswordLogin).
	hashLogin hashClass = iota
	// hashSignup hashes a new password (Register, LinkPassword).
	hashSignup
	numClasses
)

// hashLimits bound the password hashes of one instance (see Config).
type hashLimits struct {
	slots       int           // hashes computed at once
	signupSlots int           // of which at most this many for sign-ups
	queue       int           // waiting hashes per class
	perAddr     int           // waiting hashes per class and client address
	wait        time.Duration // longest wait for a slot
	loginWeight int           // logins granted per sign-up when both wait
}

// hashQueue hands out the slots of the hasher: a request that finds no
// free slot waits in its class's queue, which is fair between client
// addresses (round-robin over the addresses with waiting requests, FIFO
// within one address) and bounded (per class, per address, and in time).
// Logins are served ahead of sign-ups, loginWeight to one when both wait,
// and sign-ups never hold more than signupSlots slots, so a sign-up flood
// leaves slots to logins.
type hashQueue struct {
	lim hashLimits

	mu          sync.Mutex
	busy        int // slots in use
	signupBusy  int // of which sign-ups
	loginStreak int // logins granted in a row while sign-ups waited
	q           [numClasses]fairQueue

	// Counters (Stats).
	full    atomic.Uint64 // refused at once: queue full
	expired atomic.Uint64 // gave up waiting: no slot in time
	waited  atomic.Uint64 // got a slot after waiting
}

func newHashQueue(lim hashLimits) *hashQueue {
	h := &hashQueue{lim: lim}
	for i := range h.q {
		h.q[i].byAddr = map[string]*addrQueue{}
	}
	return h
}

// waiter is one request waiting for a slot.
type waiter struct {
	class   hashClass
	addr    string
	ready   chan struct{} // closed when granted
	granted bool          // guarded by hashQueue.mu
}

// busyReason is why acquire refused a slot.
type busyReason int

const (
	notBusy  busyReason = iota
	busyFull            // the class's queue, or the address's share, was full
	busyWait            // no slot came within the wait
)

// acquire waits for a slot for a hash of class for client address addr
// ("" for requests from no client). It returns busyFull at once when the
// class's queue, or addr's share of it, is full, busyWait when no slot
// came within the wait, and ctx's error when ctx ended first. On success
// the caller must call release(class).
func (h *hashQueue) acquire(ctx context.Context, class hashClass, addr string) (busyReason, error) {
	h.mu.Lock()
	q := &h.q[class]
	if q.n == 0 && h.free(class) {
		h.take(class)
		h.mu.Unlock()
		return notBusy, nil
	}
	if q.n >= h.lim.queue || q.count(addr) >= h.lim.perAddr {
		h.mu.Unlock()
		h.full.Add(1)
		return busyFull, nil
	}
	w := &waiter{class: class, addr: addr, ready: make(chan struct{})}
	q.push(w)
	h.dispatch()
	h.mu.Unlock()

	wait := h.lim.wait
	if dl, ok := callerDeadline(ctx); ok {
		// Nobody takes the answer after the caller's deadline: a hash
		// queued for a caller that has gone would only keep the slots
		// busy after a flood.
		wait = min(wait, time.Until(dl))
	}
	timer := time.NewTimer(max(wait, 0))
	defer timer.Stop()
	var err error
	select {
	case <-w.ready:
		h.waited.Add(1)
		return notBusy, nil
	case <-timer.C:
	case <-ctx.Done():
		err = ctx.Err()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if w.granted { // granted while the timer fired: keep the slot
		h.waited.Add(1)
		return notBusy, nil
	}
	q.remove(w)
	if err != nil {
		return notBusy, err
	}
	h.expired.Add(1)
	return busyWait, nil
}

// refuses reports whether a request of class from addr would be refused
// at once (busyFull) now, and counts it if so: a handler asks before its
// store reads, so that a flood the queue refuses costs no store work.
func (h *hashQueue) refuses(class hashClass, addr string) bool {
	h.mu.Lock()
	q := &h.q[class]
	full := !(q.n == 0 && h.free(class)) && (q.n >= h.lim.queue || q.count(addr) >= h.lim.perAddr)
	h.mu.Unlock()
	if full {
		h.full.Add(1)
	}
	return full
}

// release gives back a slot of class and grants it to the next waiter.
func (h *hashQueue) release(class hashClass) {
	h.mu.Lock()
	h.busy--
	if class == hashSignup {
		h.signupBusy--
	}
	h.dispatch()
	h.mu.Unlock()
}

// free reports whether a slot may go to class now.
func (h *hashQueue) free(class hashClass) bool {
	return h.busy < h.lim.slots && (class != hashSignup || h.signupBusy < h.lim.signupSlots)
}

func (h *hashQueue) take(class hashClass) {
	h.busy++
	if class == hashSignup {
		h.signupBusy++
	}
}

// dispatch grants free slots to waiters: logins first, but a waiting
// sign-up gets every (loginWeight+1)th slot it may take.
func (h *hashQueue) dispatch() {
	for {
		login, signup := &h.q[hashLogin], &h.q[hashSignup]
		canLogin := login.n > 0 && h.free(hashLogin)
		canSignup := signup.n > 0 && h.free(hashSignup)
		var w *waiter
		switch {
		case canSignup && (!canLogin || h.loginStreak >= h.lim.loginWeight):
			h.loginStreak = 0
			w = signup.pop()
		case canLogin:
			if signup.n > 0 {
				h.loginStreak++
			} else {
				h.loginStreak = 0
			}
			w = login.pop()
		default:
			return
		}
		h.take(w.class)
		w.granted = true
		close(w.ready)
	}
}

// fairQueue holds the waiters of one class, grouped by client address:
// pop takes the oldest waiter of the next address in turn.
type fairQueue struct {
	byAddr map[string]*addrQueue
	ring   []*addrQueue // addresses with waiters, in turn order
	next   int          // index in ring of the address whose turn is next
	n      int          // waiters
}

// addrQueue is the FIFO of one address's waiters.
type addrQueue struct {
	addr string
	ws   []*waiter
}

func (f *fairQueue) count(addr string) int {
	if a := f.byAddr[addr]; a != nil {
		return len(a.ws)
	}
	return 0
}

func (f *fairQueue) push(w *waiter) {
	a := f.byAddr[w.addr]
	if a == nil {
		a = &addrQueue{addr: w.addr}
		f.byAddr[w.addr] = a
		// A new address goes last in the turn order: just before the
		// address whose turn is next.
		f.ring = slices.Insert(f.ring, f.next, a)
		f.next++
	}
	a.ws = append(a.ws, w)
	f.n++
}

// pop returns the oldest waiter of the address whose turn it is; nil when
// there is none.
func (f *fairQueue) pop() *waiter {
	if len(f.ring) == 0 {
		return nil
	}
	if f.next >= len(f.ring) {
		f.next = 0
	}
	a := f.ring[f.next]
	w := a.ws[0]
	a.ws[0] = nil
	a.ws = a.ws[1:]
	f.n--
	if len(a.ws) == 0 {
		f.drop(f.next)
	} else {
		f.next++
	}
	return w
}

// remove takes w out of the queue (it gave up waiting).
func (f *fairQueue) remove(w *waiter) {
	a := f.byAddr[w.addr]
	if a == nil {
		return
	}
	i := slices.Index(a.ws, w)
	if i < 0 {
		return
	}
	a.ws = slices.Delete(a.ws, i, i+1)
	f.n--
	if len(a.ws) == 0 {
		f.drop(slices.Index(f.ring, a))
	}
}

// drop removes the address at ring index i, which has no waiters left.
func (f *fairQueue) drop(i int) {
	delete(f.byAddr, f.ring[i].addr)
	f.ring = slices.Delete(f.ring, i, i+1)
	if i < f.next {
		f.next--
	}
}

// deadlineKey is the context key of a request's caller deadline.
type deadlineKey struct{}

// callerDeadline returns the caller deadline withCallerDeadline put in ctx.
func callerDeadline(ctx context.Context) (time.Time, bool) {
	dl, ok := ctx.Value(deadlineKey{}).(time.Time)
	return dl, ok
}
