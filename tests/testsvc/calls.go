package main

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
	demopb "github.com/iogo-dev/iogo/proto/demo"
)

// cmdCalls is the cmd of the server-to-server and event-bus routes.
const cmdCalls int32 = 23

// Routes of cmd 23, called by the tests with logic.Call, Send and CallAll.
const (
	subDouble   int32 = 0 // int64 → 2×int64
	subFail     int32 = 1 // int32 code → error with that code
	subSend     int32 = 2 // string → (void); recorded in the sends log
	subSends    int32 = 3 // → []string: this instance's sends log
	subWhoami   int32 = 4 // → string: this instance's ID
	subBlock    int32 = 5 // []string{instance, duration} → instance ID; that instance first sleeps
	subSelfCall int32 = 6 // int64 → calls subDouble on its own service for its user, returns the result
	subEvents   int32 = 7 // → []string: this instance's events log, "topic:seq:attempt"
)

// Topics every testsvc instance subscribes to, one per delivery.
const (
	topicEvery   = "calls.every"   // every instance
	topicOne     = "calls.one"     // one instance per service
	topicDurable = "calls.durable" // durable; Text "fail-once" fails its first delivery
)

// callsLog is what this process received; the tests read it with CallAll.
var callsLog struct {
	mu       sync.Mutex
	sends    []string
	events   []string
	attempts map[string]int
}

// registerCalls registers the routes and event subscriptions of the
// server-to-server and event-bus tests.
func registerCalls(r *route.Router) {
	g := r.Group(cmdCalls)
	route.Handle(g, subDouble, func(_ *logic.Ctx, n int64) (int64, error) { return 2 * n, nil }, route.Internal())
	route.Handle(g, subFail, func(_ *logic.Ctx, code int32) (bool, error) {
		return false, errs.New(code, "testsvc failure")
	}, route.Internal())
	route.HandleVoid(g, subSend, func(_ *logic.Ctx, s string) error {
		callsLog.mu.Lock()
		callsLog.sends = append(callsLog.sends, s)
		callsLog.mu.Unlock()
		return nil
	}, route.Internal())
	route.Handle(g, subSends, func(_ *logic.Ctx, _ string) ([]string, error) {
		callsLog.mu.Lock()
		defer callsLog.mu.Unlock()
		return slices.Clone(callsLog.sends), nil
	}, route.Internal())
	route.Handle(g, subWhoami, func(c *logic.Ctx, _ string) (string, error) { return c.InstanceID(), nil }, route.Internal())
	route.Handle(g, subBlock, func(c *logic.Ctx, args []string) (string, error) {
		if len(args) != 2 {
			return "", errs.ErrValidation
		}
		d, err := time.ParseDuration(args[1])
		if err != nil {
			return "", errs.ErrValidation
		}
		if args[0] == c.InstanceID() {
			select {
			case <-time.After(d):
			case <-c.Context().Done():
			}
		}
		return c.InstanceID(), nil
	}, route.Internal())
	// Called by a client: the call below queues on the same user's
	// executors of this very service.
	route.Handle(g, subSelfCall, func(c *logic.Ctx, n int64) (int64, error) {
		return logic.Call[int64, int64](c.Context(), c, cmdCalls, subDouble, n)
	})
	route.Handle(g, subEvents, func(_ *logic.Ctx, _ string) ([]string, error) {
		callsLog.mu.Lock()
		defer callsLog.mu.Unlock()
		return slices.Clone(callsLog.events), nil
	}, route.Internal())

	record := func(topic string) func(*logic.Ctx, *demopb.EchoMsg) error {
		return func(_ *logic.Ctx, m *demopb.EchoMsg) error {
			callsLog.mu.Lock()
			defer callsLog.mu.Unlock()
			if callsLog.attempts == nil {
				callsLog.attempts = map[string]int{}
			}
			key := fmt.Sprintf("%s:%d", topic, m.Seq)
			callsLog.attempts[key]++
			n := callsLog.attempts[key]
			if m.Text == "fail-once" && n == 1 {
				return fmt.Errorf("event %s fails its first delivery", key)
			}
			callsLog.events = append(callsLog.events, fmt.Sprintf("%s:%d", key, n))
			return nil
		}
	}
	route.Subscribe(r, topicEvery, record(topicEvery))
	route.Subscribe(r, topicOne, record(topicOne), route.OnePerService())
	route.Subscribe(r, topicDurable, record(topicDurable), route.Durable())
}
