package svcmain

import (
	"bytes"
	"context"
	"flag"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/broker/brokertest"
	"github.com/iogo-dev/iogo/pkg/eventbus/kafkatest"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
	"github.com/iogo-dev/iogo/pkg/store"
	"github.com/iogo-dev/iogo/pkg/store/redistest"
)

// counter is a module that keeps one number in its bucket; -step sets how
// much route 4-0 adds.
type counter struct {
	step   int64
	kv     store.KV
	opened atomic.Bool
	closed atomic.Bool
}

func (m *counter) Router() logic.RouteSource {
	r := route.NewRouter()
	route.Handle(r.Group(4), 0, func(c *logic.Ctx, _ int64) (int64, error) {
		var n int64
		_, err := store.Update(c.Context(), m.kv, "n", func(cur []byte, _ bool) ([]byte, error) {
			n, _ = strconv.ParseInt(string(cur), 10, 64)
			n += m.step
			return strconv.AppendInt(nil, n, 10), nil
		})
		return n, err
	}, route.Public())
	return r
}

func (m *counter) Open(ctx context.Context, srv *logic.Server, st store.Opener) (err error) {
	if srv.Client() == nil {
		panic("Open before the server's client exists")
	}
	m.kv, err = st.Open(ctx, store.Bucket{Name: "svcmain_counter"})
	m.opened.Store(err == nil)
	return err
}

func (m *counter) Close() error { m.closed.Store(true); return nil }

// syncBuffer is a bytes.Buffer safe for a writer and a poller.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunLogicModule runs a module through RunLogic on each store backend:
// its flag is parsed, it is opened before serving, its data lands in the
// chosen backend, and it is closed at the end.
func TestRunLogicModule(t *testing.T) {
	b := brokertest.Start(t, broker.Config{})
	redisAddr := redistest.Start(t)
	for _, backend := range []struct {
		name string
		args []string
	}{
		{"jetstream", nil},
		{"redis", []string{"-redis", "redis://" + redisAddr + "/0"}},
	} {
		t.Run(backend.name, func(t *testing.T) {
			m := &counter{}
			spec := Logic{Service: "counter", EnvPrefix: "IOGO_COUNTER_", Module: func(fs *flag.FlagSet) logic.Module {
				fs.Int64Var(&m.step, "step", 1, "how much each call adds")
				return m
			}}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var stdout, stderr syncBuffer
			exited := make(chan int, 1)
			args := append([]string{"-brokers", b.ClientURL(), "-step", "5"}, backend.args...)
			go func() {
				exited <- RunLogic(ctx, spec, args, func(string) (string, bool) { return "", false }, &stdout, &stderr)
			}()
			deadline := time.Now().Add(30 * time.Second)
			for !strings.Contains(stdout.String(), "iogo logic ready") {
				select {
				case code := <-exited:
					t.Fatalf("exited %d before ready: %s", code, stderr.String())
				case <-time.After(5 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					t.Fatalf("not ready: %s", stderr.String())
				}
			}
			if !m.opened.Load() {
				t.Fatal("serving before the module was opened")
			}
			nc, err := nats.Connect(b.ClientURL())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			cl, err := logic.NewClient(ctx, logic.ClientConfig{Conn: nc})
			if err != nil {
				t.Fatal(err)
			}
			// Each backend starts empty: a first answer of 5 in the Redis
			// run shows the data did not go to JetStream.
			first, err := logic.Call[int64, int64](ctx, cl, 4, 0, 0)
			if err != nil || first != 5 {
				t.Fatalf("first call %d, %v; want 5", first, err)
			}
			second, err := logic.Call[int64, int64](ctx, cl, 4, 0, 0)
			if err != nil || second != first+5 {
				t.Fatalf("second call %d, %v; want %d", second, err, first+5)
			}
			cancel()
			if code := <-exited; code != ExitOK {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			if !m.closed.Load() {
				t.Fatal("module not closed")
			}
		})
	}
}

// TestRunLogicKafka: with -kafka, durable events go through Kafka (kfake
// here): a route publishes one, the service's own durable subscription
// receives it.
func TestRunLogicKafka(t *testing.T) {
	b := brokertest.Start(t, broker.Config{})
	kafka := kafkatest.Start(t)
	got := make(chan string, 1)
	spec := Logic{Service: "kafkasvc", EnvPrefix: "IOGO_KAFKASVC_", Routes: func() logic.RouteSource {
		r := route.NewRouter()
		route.Handle(r.Group(5), 0, func(c *logic.Ctx, s string) (bool, error) {
			return true, c.PublishDurable("svcmain.kafka", wrapperspb.String(s))
		}, route.Public())
		route.Subscribe(r, "svcmain.kafka", func(_ *logic.Ctx, ev *wrapperspb.StringValue) error {
			got <- ev.Value
			return nil
		}, route.Durable())
		return r
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- RunLogic(ctx, spec, []string{"-brokers", b.ClientURL(), "-kafka", strings.Join(kafka, ",")},
			func(string) (string, bool) { return "", false }, &stdout, &stderr)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stdout.String(), "iogo logic ready") {
		select {
		case code := <-exited:
			t.Fatalf("exited %d before ready: %s", code, stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %s", stderr.String())
		}
	}
	nc, err := nats.Connect(b.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	cl, err := logic.NewClient(ctx, logic.ClientConfig{Conn: nc})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := logic.Call[string, bool](ctx, cl, 5, 0, "via kafka"); err != nil || !ok {
		t.Fatalf("publish: %v %v", ok, err)
	}
	select {
	case v := <-got:
		if v != "via kafka" {
			t.Fatalf("event %q", v)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no durable event through Kafka: %s", stderr.String())
	}
	// JetStream has no stream for the topic: the event went through Kafka.
	js, _ := jetstream.New(nc)
	if _, err := js.Stream(ctx, fabric.EventStream("svcmain.kafka")); err == nil {
		t.Fatal("a JetStream stream exists for the topic")
	}
	cancel()
	if code := <-exited; code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}
