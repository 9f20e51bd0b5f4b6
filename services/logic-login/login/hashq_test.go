package login

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/svcmain/svctest"
)

// slots returns hash limits with n slots and roomy queues.
func slots(n int) hashLimits {
	return hashLimits{slots: n, signupSlots: n, queue: 100, perAddr: 100, wait: 10 * time.Second, loginWeight: hashLoginWeight}
}

// TestFairQueueOrder: the queue serves addresses in turn, each address's
// waiters in arrival order; a waiter that gives up leaves no trace.
func TestFairQueueOrder(t *testing.T) {
	tests := []struct {
		name string
		ops  []string // "+A1" pushes A1 (address A), "-A1" removes it, "pop" pops
		want []string // names popped, in order
		left int      // waiters left
	}{
		{"one address is FIFO", []string{"+A1", "+A2", "+A3", "pop", "pop", "pop"}, []string{"A1", "A2", "A3"}, 0},
		{"addresses take turns", []string{"+A1", "+A2", "+A3", "+B1", "+C1", "pop", "pop", "pop", "pop", "pop"},
			[]string{"A1", "B1", "C1", "A2", "A3"}, 0},
		{"a flood does not delay a newcomer by more than a round",
			[]string{"+A1", "+A2", "+A3", "+A4", "pop", "+B1", "pop", "pop", "pop"}, []string{"A1", "A2", "B1", "A3"}, 1},
		{"removed waiters are skipped", []string{"+A1", "+A2", "+B1", "-A1", "-B1", "pop", "pop"}, []string{"A2"}, 0},
		{"empty", []string{"pop"}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fairQueue{byAddr: map[string]*addrQueue{}}
			ws := map[string]*waiter{}
			names := map[*waiter]string{}
			var got []string
			for _, op := range tt.ops {
				switch op[0] {
				case '+':
					w := &waiter{addr: op[1:2]}
					ws[op[1:]], names[w] = w, op[1:]
					f.push(w)
				case '-':
					f.remove(ws[op[1:]])
				default:
					if w := f.pop(); w != nil {
						got = append(got, names[w])
					}
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("popped %v, want %v", got, tt.want)
			}
			if f.n != tt.left || len(f.byAddr) != len(f.ring) {
				t.Fatalf("%d waiters left, want %d; %d addresses in the map, %d in the ring", f.n, tt.left, len(f.byAddr), len(f.ring))
			}
		})
	}
}

// holder is a request that holds a hash slot until told to let go.
type holder struct {
	name    string
	class   hashClass
	granted chan string
	done    chan struct{}
	err     chan error
}

// queueAt starts a request of class from addr on q and waits until it is
// queued (or served at once).
func queueAt(t *testing.T, q *hashQueue, name string, class hashClass, addr string, granted chan string) *holder {
	t.Helper()
	h := &holder{name: name, class: class, granted: granted, done: make(chan struct{}), err: make(chan error, 1)}
	before := q.waiting()
	go func() {
		why, err := q.acquire(context.Background(), class, addr)
		if err == nil && why != notBusy {
			err = fmt.Errorf("busy %d", why)
		}
		h.err <- err
		if err != nil {
			return
		}
		granted <- name
		<-h.done
		q.release(class)
	}()
	svctest.Eventually(t, "queued", func() error {
		if q.waiting() == before+1 || len(h.err) > 0 || len(granted) > 0 {
			return nil
		}
		return errors.New("not queued yet")
	})
	return h
}

// waiting returns the number of queued requests.
func (h *hashQueue) waiting() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.q[hashLogin].n + h.q[hashSignup].n
}

// TestHashQueuePriority: with one slot, queued logins get three slots for
// each one a waiting sign-up gets.
func TestHashQueuePriority(t *testing.T) {
	q := newHashQueue(slots(1))
	granted := make(chan string, 10)
	first := queueAt(t, q, "first", hashLogin, "x", granted)
	if g := <-granted; g != "first" {
		t.Fatalf("granted %s", g)
	}
	hs := map[string]*holder{"first": first}
	for _, w := range []struct {
		name  string
		class hashClass
		addr  string
	}{{"S1", hashSignup, "a"}, {"S2", hashSignup, "b"}, {"L1", hashLogin, "c"}, {"L2", hashLogin, "d"}, {"L3", hashLogin, "e"}, {"L4", hashLogin, "f"}} {
		hs[w.name] = queueAt(t, q, w.name, w.class, w.addr, granted)
	}
	var order []string
	cur := "first"
	for range 6 {
		close(hs[cur].done)
		cur = <-granted
		order = append(order, cur)
	}
	close(hs[cur].done)
	if want := []string{"L1", "L2", "L3", "S1", "L4", "S2"}; !slices.Equal(order, want) {
		t.Fatalf("served %v, want %v", order, want)
	}
}

// TestHashQueueLimits: refusals of a full queue, of an address's full
// share, after the wait, and sign-ups kept to their slots.
func TestHashQueueLimits(t *testing.T) {
	t.Run("sign-ups leave a slot to logins", func(t *testing.T) {
		lim := slots(2)
		lim.signupSlots = 1
		q := newHashQueue(lim)
		granted := make(chan string, 10)
		s1 := queueAt(t, q, "S1", hashSignup, "a", granted)
		<-granted
		s2 := queueAt(t, q, "S2", hashSignup, "a", granted) // waits: sign-ups hold their one slot
		l1 := queueAt(t, q, "L1", hashLogin, "a", granted)
		if g := <-granted; g != "L1" {
			t.Fatalf("granted %s, want L1", g)
		}
		close(l1.done)
		close(s1.done)
		if g := <-granted; g != "S2" {
			t.Fatalf("granted %s, want S2", g)
		}
		close(s2.done)
	})
	t.Run("an address's share, the queue, the wait", func(t *testing.T) {
		lim := slots(1)
		lim.perAddr, lim.queue, lim.wait = 2, 3, 50*time.Millisecond
		q := newHashQueue(lim)
		granted := make(chan string, 10)
		hold := queueAt(t, q, "hold", hashLogin, "a", granted)
		<-granted
		ctx := context.Background()
		// Two of A and one of B wait (they give up after the wait).
		results := make(chan busyReason, 3)
		for _, addr := range []string{"a", "a", "b"} {
			before := q.waiting()
			go func() {
				why, _ := q.acquire(ctx, hashLogin, addr)
				results <- why
			}()
			svctest.Eventually(t, "queued", func() error {
				if q.waiting() == before+1 {
					return nil
				}
				return errors.New("not queued")
			})
		}
		if why, _ := q.acquire(ctx, hashLogin, "a"); why != busyFull {
			t.Fatalf("third of A: %v, want busyFull (address share)", why)
		}
		if why, _ := q.acquire(ctx, hashLogin, "c"); why != busyFull {
			t.Fatalf("C: %v, want busyFull (queue)", why)
		}
		// Sign-ups have their own queue.
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := q.acquire(cctx, hashSignup, "c"); !errors.Is(err, context.Canceled) {
			t.Fatalf("sign-up with a cancelled context: %v", err)
		}
		for range 3 {
			if why := <-results; why != busyWait {
				t.Fatalf("waiter: %v, want busyWait", why)
			}
		}
		if n := q.waiting(); n != 0 {
			t.Fatalf("%d still queued", n)
		}
		if q.full.Load() != 2 || q.expired.Load() != 3 {
			t.Fatalf("full %d expired %d", q.full.Load(), q.expired.Load())
		}
		close(hold.done)
		// The slot is free again.
		if why, err := q.acquire(ctx, hashSignup, "a"); why != notBusy || err != nil {
			t.Fatalf("after release: %v %v", why, err)
		}
		q.release(hashSignup)
	})
}
