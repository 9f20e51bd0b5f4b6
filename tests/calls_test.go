package tests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/logic"
	demo "github.com/iogo-dev/iogo/proto/demo"
	"github.com/iogo-dev/iogo/proto/iohao"
	"github.com/nats-io/nats.go"
)

// Server-to-server calls and the event bus across real processes: a
// broker, testsvc instances under several service names and, for a call
// from a client's request, an external server. The test process itself
// calls and publishes with a logic.Client. testsvc serves them with the
// routes and subscriptions of cmd 23 (tests/testsvc/calls.go).

// Routes and topics of tests/testsvc/calls.go.
const (
	cmdCalls     = 23
	subDouble    = 0
	subFail      = 1
	subSend      = 2
	subSends     = 3
	subWhoami    = 4
	subBlock     = 5
	subSelfCall  = 6
	subEvents    = 7
	topicEvery   = "calls.every"
	topicOne     = "calls.one"
	topicDurable = "calls.durable"
)

// startBroker runs a broker process and returns its NATS URL.
func startBroker(t *testing.T) string {
	t.Helper()
	b := startProc(t, "broker", "broker", "-host", "127.0.0.1", "-port", "-1", "-store", t.TempDir())
	if b.ready["nats"] == "" {
		t.Fatalf("broker ready line has no nats URL: %v", b.ready)
	}
	return b.ready["nats"]
}

// startSvc runs a testsvc instance of service with instance ID id.
func startSvc(t *testing.T, url, service, id string) *proc {
	t.Helper()
	t.Setenv("IOGO_TESTSVC_SERVICE", service) // inherited by the process
	return startProc(t, "testsvc", "logic", "-brokers", url, "-id", id)
}

// busClient connects the test process to the broker as a logic.Client.
func busClient(t *testing.T, url string) (*logic.Client, *nats.Conn) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	cl, err := logic.NewClient(deadline(t), logic.ClientConfig{Conn: nc})
	if err != nil {
		t.Fatal(err)
	}
	return cl, nc
}

// logsOf asks every testsvc instance for one of its logs (subSends or
// subEvents) and returns them by instance.
func logsOf(t *testing.T, caller logic.Caller, sub int32) (map[string][]string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	res, err := logic.CallAll[string, []string](ctx, caller, cmdCalls, sub, "")
	if err != nil {
		return nil, err
	}
	if res.Partial {
		return nil, fmt.Errorf("no answer from %v", res.Missing)
	}
	logs := make(map[string][]string, len(res.Replies))
	for _, r := range res.Replies {
		if r.Err != nil {
			return nil, fmt.Errorf("%s: %w", r.Instance, r.Err)
		}
		logs[r.Instance] = r.Value
	}
	return logs, nil
}

// entries returns "topic:seq:attempt" for seqs with attempt 1.
func entries(topic string, seqs ...int) []string {
	var out []string
	for _, s := range seqs {
		out = append(out, fmt.Sprintf("%s:%d:1", topic, s))
	}
	return out
}

// onTopic returns the entries of log that belong to topic.
func onTopic(log []string, topic string) []string {
	var out []string
	for _, e := range log {
		if strings.HasPrefix(e, topic+":") {
			out = append(out, e)
		}
	}
	return out
}

func TestCallsAcrossProcesses(t *testing.T) {
	url := startBroker(t)
	startSvc(t, url, "calls", "calls-1")
	startSvc(t, url, "calls", "calls-2")
	ext := startProc(t, "external", "external", "-brokers", url, "-id", "gate0", "-ws", "127.0.0.1:0", "-tcp", "127.0.0.1:0")
	cl, _ := busClient(t, url)

	t.Run("call", func(t *testing.T) {
		got, err := logic.Call[int64, int64](deadline(t), cl, cmdCalls, subDouble, 21)
		if err != nil || got != 42 {
			t.Fatalf("got %d, %v", got, err)
		}
	})
	t.Run("error code", func(t *testing.T) {
		_, err := logic.Call[int32, bool](deadline(t), cl, cmdCalls, subFail, 4242)
		if !errors.Is(err, errs.New(4242, "")) || errs.Code(err) != 4242 || !strings.Contains(err.Error(), "testsvc failure") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("route not served", func(t *testing.T) {
		_, err := logic.Call[int64, int64](deadline(t), cl, cmdCalls, 99, 1)
		if !errors.Is(err, errs.ErrRouteNotFound) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("send", func(t *testing.T) {
		// A spy sees every message on the broker: the only route replies
		// are those the test receives itself.
		spy, err := nats.Connect(url)
		if err != nil {
			t.Fatal(err)
		}
		defer spy.Close()
		seen := make(chan *nats.Msg, 1<<16)
		if _, err := spy.ChanSubscribe(">", seen); err != nil {
			t.Fatal(err)
		}
		if err := spy.Flush(); err != nil {
			t.Fatal(err)
		}
		// As user 9, the Send and the log reads that follow it run in
		// order on the instance that serves the Send.
		as := cl.As(9)
		if err := logic.Send(deadline(t), as, cmdCalls, subSend, "hello"); err != nil {
			t.Fatal(err)
		}
		replies := 0
		waitUntil(t, 10*time.Second, func() error {
			res, err := logic.CallAll[string, []string](deadline(t), as, cmdCalls, subSends, "")
			if err != nil {
				return err
			}
			replies += len(res.Replies)
			var got []string
			for _, r := range res.Replies {
				got = append(got, r.Value...)
			}
			if len(res.Replies) != 2 || !slices.Equal(got, []string{"hello"}) {
				return fmt.Errorf("sends logs %+v", res)
			}
			return nil
		})
		if err := spy.Flush(); err != nil {
			t.Fatal(err)
		}
		answered := 0
		for len(seen) > 0 {
			if isRouteReply(<-seen) {
				answered++
			}
		}
		if answered != replies {
			t.Fatalf("%d replies on the broker, %d to the log reads: the Send was answered", answered, replies)
		}
	})
	t.Run("call all", func(t *testing.T) {
		res, err := logic.CallAll[string, string](deadline(t), cl, cmdCalls, subWhoami, "")
		if err != nil || res.Partial || len(res.Replies) != 2 {
			t.Fatalf("got %+v, %v", res, err)
		}
		var ids []string
		for _, r := range res.Replies {
			if r.Err != nil || r.Value != r.Instance {
				t.Fatalf("reply %+v", r)
			}
			ids = append(ids, r.Instance)
		}
		slices.Sort(ids)
		if !slices.Equal(ids, []string{"calls-1", "calls-2"}) {
			t.Fatalf("answered: %v", ids)
		}
	})
	t.Run("self call from a client request", func(t *testing.T) {
		// The handler of a logged-in client's request calls its own
		// service for the same user and waits: no deadlock.
		p := &player{t: t, name: "self", c: dialSpec(t, ext.ready["tcp"])}
		p.login(7)
		start := time.Now()
		if got := ok(p, cmdCalls, subSelfCall, &iohao.LongValue{Value: 21}, &iohao.LongValue{}); got.Value != 42 {
			t.Fatalf("got %d", got.Value)
		}
		if d := time.Since(start); d > 4*time.Second { // a deadlock would last the 5 s call timeout
			t.Fatalf("took %v", d)
		}
		// Internal routes stay closed to clients.
		if resp := p.call(cmdCalls, subDouble, &iohao.LongValue{Value: 1}); resp.ResponseStatus != codeRouteNotFound {
			t.Fatalf("internal route from a client: status %d", resp.ResponseStatus)
		}
	})
	t.Run("call all with one instance blocked", func(t *testing.T) {
		const timeout = time.Second
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		start := time.Now()
		res, err := logic.CallAll[[]string, string](ctx, cl, cmdCalls, subBlock, []string{"calls-2", "1500ms"})
		elapsed := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Partial || !slices.Equal(res.Missing, []string{"calls-2"}) ||
			len(res.Replies) != 1 || res.Replies[0].Instance != "calls-1" || res.Replies[0].Value != "calls-1" {
			t.Fatalf("got %+v", res)
		}
		if elapsed < timeout || elapsed > timeout+3*time.Second {
			t.Fatalf("returned after %v with a %v timeout", elapsed, timeout)
		}
	})
}

func TestEventBusAcrossProcesses(t *testing.T) {
	url := startBroker(t)
	services := map[string][]string{"ev-a": {"a1", "a2"}, "ev-b": {"b1", "b2"}}
	for svc, ids := range services {
		for _, id := range ids {
			startSvc(t, url, svc, id)
		}
	}
	cl, _ := busClient(t, url)
	const n = 10
	var all []int
	for i := 1; i <= n; i++ {
		all = append(all, i)
		for _, topic := range []string{topicEvery, topicOne} {
			if err := cl.Publish(deadline(t), topic, &demo.EchoMsg{Seq: int64(i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitUntil(t, 10*time.Second, func() error {
		logs, err := logsOf(t, cl, subEvents)
		if err != nil {
			return err
		}
		if len(logs) != 4 {
			return fmt.Errorf("logs of %d instances", len(logs))
		}
		for svc, ids := range services {
			var one []string
			for _, id := range ids {
				// Every instance: all of them, in publication order, once.
				if got := onTopic(logs[id], topicEvery); !slices.Equal(got, entries(topicEvery, all...)) {
					return fmt.Errorf("%s: %s: %v", id, topicEvery, got)
				}
				one = append(one, onTopic(logs[id], topicOne)...)
				if extra := len(logs[id]) - n - len(onTopic(logs[id], topicOne)); extra != 0 {
					return fmt.Errorf("%s: %d events of other topics: %v", id, extra, logs[id])
				}
			}
			// One per service: each event on exactly one instance.
			slices.Sort(one)
			want := entries(topicOne, all...)
			slices.Sort(want)
			if !slices.Equal(one, want) {
				return fmt.Errorf("%s: %s: %v", svc, topicOne, one)
			}
		}
		return nil
	})
}

func TestDurableEventsAcrossProcesses(t *testing.T) {
	url := startBroker(t)
	cl, _ := busClient(t, url)
	publish := func(seq int, text string) {
		t.Helper()
		if err := cl.PublishDurable(deadline(t), topicDurable, &demo.EchoMsg{Seq: int64(seq), Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	waitLog := func(id string, want ...string) {
		t.Helper()
		waitUntil(t, 10*time.Second, func() error {
			logs, err := logsOf(t, cl, subEvents)
			if err != nil {
				return err
			}
			if len(logs) != 1 || !slices.Equal(logs[id], want) {
				return fmt.Errorf("logs %v, want %s: %v", logs, id, want)
			}
			return nil
		})
	}

	// Published before the service ever ran: delivered when it starts.
	publish(1, "")
	d1 := startSvc(t, url, "dur", "dur-1")
	waitLog("dur-1", entries(topicDurable, 1)...)

	// A handler error: delivered again, and handled on the second attempt.
	publish(2, "fail-once")
	waitLog("dur-1", "calls.durable:1:1", "calls.durable:2:2")

	// Published while no instance runs: delivered to the next one, and
	// only those; an every-instance event of that time is gone.
	d1.stop(t)
	publish(3, "")
	publish(4, "")
	if err := cl.Publish(deadline(t), topicEvery, &demo.EchoMsg{Seq: 99}); err != nil {
		t.Fatal(err)
	}
	startSvc(t, url, "dur", "dur-2")
	waitLog("dur-2", entries(topicDurable, 3, 4)...)
}

// isRouteReply reports whether m, seen by a spy on the broker, is a logic
// server's answer to a route request: a message to an inbox that is neither
// a JetStream API answer (JSON) nor a JetStream delivery or status
// (Nats-* or Status headers), like the registry reads of CallAll.
func isRouteReply(m *nats.Msg) bool {
	if !strings.HasPrefix(m.Subject, "_INBOX.") || bytes.HasPrefix(m.Data, []byte("{")) || m.Header.Get("Status") != "" {
		return false
	}
	for k := range m.Header {
		if strings.HasPrefix(k, "Nats-") {
			return false
		}
	}
	return true
}
