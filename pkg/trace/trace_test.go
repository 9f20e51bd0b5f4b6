package trace_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/external"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
	"github.com/iogo-dev/iogo/pkg/trace"
	"github.com/iogo-dev/iogo/pkg/trace/otlptest"
	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/nats-io/nats.go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	oteltrace "go.opentelemetry.io/otel/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.uber.org/goleak"
)

// fasthttp (the gate's WebSocket server) and kcp-go keep goroutines of
// their own that belong to no gate.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).sched"),
		goleak.IgnoreAnyFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).prepend"),
	)
}

func TestNewProviderOff(t *testing.T) {
	t.Setenv(trace.EnvEndpoint, "")
	t.Setenv(trace.EnvTracesEndpoint, "")
	tp, err := trace.NewProvider(context.Background(), "x", "")
	if tp != nil || err != nil {
		t.Fatalf("got %v, %v; want no provider", tp, err)
	}
	if tr := trace.New(nil); tr.Enabled() {
		t.Fatal("a nil provider traces")
	}
}

func TestHeaderCarrier(t *testing.T) {
	h := nats.Header{}
	c := trace.Header(h)
	c.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	if got := c.Get("traceparent"); got != h.Get("traceparent") || got == "" {
		t.Fatalf("get %q", got)
	}
	if k := c.Keys(); len(k) != 1 || k[0] != "traceparent" {
		t.Fatalf("keys %v", k)
	}
	if c.Get("tracestate") != "" {
		t.Fatal("missing key has a value")
	}
}

// stack is a broker, a gate and two logic servers in one process: route
// 1-0 of "front" calls route 2-0 of "back".
type stack struct {
	tb      testing.TB
	b       *broker.Broker
	gate    *external.Server
	servers []*logic.Server
	client  *client.Client
	logs    *syncBuffer // JSON logs of the logic servers
}

// startStack starts a stack whose components get their TracerProvider from
// tpFor (nil: tracing off).
func startStack(tb testing.TB, tpFor func(service string) oteltrace.TracerProvider) *stack {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.New(broker.Config{Host: "127.0.0.1", Port: -1})
	if err != nil {
		tb.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	st := &stack{tb: tb, b: b, logs: &syncBuffer{}}
	log := slog.New(slog.NewJSONHandler(st.logs, nil))

	back := route.NewRouter()
	route.Handle(back.Group(2), 0, func(c *logic.Ctx, n int64) (int64, error) { return n + 1, nil })
	front := route.NewRouter()
	route.Handle(front.Group(1), 0, func(c *logic.Ctx, n int64) (int64, error) {
		c.Logger().InfoContext(c.Context(), "front handler")
		return logic.Call[int64, int64](c.Context(), c, 2, 0, n*10)
	}, route.Public())
	for _, s := range []struct {
		name string
		r    *route.Router
	}{{"back", back}, {"front", front}} {
		srv, err := logic.New(logic.Config{
			Service: s.name, InstanceID: s.name + "-1", Router: s.r, Logger: log,
			Brokers: []string{b.ClientURL()}, TracerProvider: tpFor(s.name),
		})
		if err != nil {
			tb.Fatal(err)
		}
		if err := srv.Start(ctx); err != nil {
			tb.Fatal(err)
		}
		st.servers = append(st.servers, srv)
	}
	st.gate, err = external.New(external.Config{
		ID: "ext-1", WSAddr: "127.0.0.1:0", Brokers: []string{b.ClientURL()}, RateLimit: -1,
		Logger: slog.New(slog.DiscardHandler), TracerProvider: tpFor("external"),
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.gate.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	if st.client, err = client.Dial(ctx, "ws://"+st.gate.WSAddr().String()+"/websocket"); err != nil {
		tb.Fatal(err)
	}
	// Wait until the gate's registry view has the route.
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := st.client.Request(ctx, 1, 0, int64Payload(4))
		if err != nil {
			tb.Fatal(err)
		}
		if resp.Status == 0 {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("status %d %s", resp.Status, resp.ValidMsg)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return st
}

// stop shuts the stack down; it runs before the TracerProviders flush.
func (st *stack) stop() {
	_ = st.client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := st.gate.Shutdown(ctx); err != nil {
		st.tb.Error(err)
	}
	for _, srv := range st.servers {
		if err := srv.Shutdown(ctx); err != nil {
			st.tb.Error(err)
		}
	}
	if err := st.b.Shutdown(ctx); err != nil {
		st.tb.Error(err)
	}
}

func int64Payload(n int64) []byte {
	in, _ := wire.ValueOf[int64]()
	out, _ := in.Append(nil, wire.Protobuf{}, n)
	return out
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
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

// TestOneTrace sends a client request through a gate to a logic server
// ("front") whose handler calls a second logic server ("back"), each with
// its own TracerProvider from trace.Setup exporting to an in-test OTLP
// receiver, and checks that the spans form one trace with the right
// parents, and that the handler's log line carries the trace ID.
func TestOneTrace(t *testing.T) {
	rc := otlptest.Start(t)
	t.Setenv(trace.EnvEndpoint, rc.URL)

	var flush []func(context.Context) error
	st := startStack(t, func(service string) oteltrace.TracerProvider {
		tp, stop, err := trace.Setup(context.Background(), service, service+"-1")
		if err != nil || tp == nil {
			t.Fatalf("provider: %v, %v", tp, err)
		}
		flush = append(flush, stop)
		return tp
	})
	resp, err := st.client.Request(context.Background(), 1, 0, int64Payload(4))
	if err != nil || resp.Status != 0 {
		t.Fatalf("request: %v %v", resp, err)
	}
	in, _ := wire.ValueOf[int64]()
	if got, err := in.Unmarshal(resp.Data, wire.Protobuf{}); err != nil || got != 41 {
		t.Fatalf("response %v %v", got, err)
	}
	st.stop()
	for _, f := range flush {
		if err := f(context.Background()); err != nil {
			t.Error(err)
		}
	}

	spans := rc.Trace("gate 1-0")
	want := []struct {
		name, service, parent string
		kind                  tracepb.Span_SpanKind
	}{
		{"gate 1-0", "external", "", tracepb.Span_SPAN_KIND_SERVER},
		{"forward 1-0", "external", "gate 1-0", tracepb.Span_SPAN_KIND_PRODUCER},
		{"route 1-0", "front", "forward 1-0", tracepb.Span_SPAN_KIND_SERVER},
		{"call 2-0", "front", "route 1-0", tracepb.Span_SPAN_KIND_CLIENT},
		{"route 2-0", "back", "call 2-0", tracepb.Span_SPAN_KIND_SERVER},
	}
	root, ok := spans["gate 1-0"]
	if !ok {
		t.Fatalf("no gate span; got %v", names(spans))
	}
	if n := len(spans); n != len(want) {
		t.Errorf("%d spans, want %d: %v", n, len(want), names(spans))
	}
	for _, w := range want {
		t.Run(w.name, func(t *testing.T) {
			s, ok := spans[w.name]
			if !ok {
				t.Fatalf("missing; got %v", names(spans))
			}
			if s.Service != w.service || s.Kind != w.kind {
				t.Errorf("service %q kind %v, want %q %v", s.Service, s.Kind, w.service, w.kind)
			}
			if !bytes.Equal(s.TraceId, root.TraceId) {
				t.Errorf("trace %x, want %x", s.TraceId, root.TraceId)
			}
			var parent []byte
			if w.parent != "" {
				parent = spans[w.parent].SpanId
			}
			if !bytes.Equal(s.ParentSpanId, parent) {
				t.Errorf("parent %x, want %x (%s)", s.ParentSpanId, parent, w.parent)
			}
		})
	}
	if attrs := attrMap(spans["route 1-0"].Attributes); attrs["iogo.instance"] != "front-1" || attrs["iogo.route"] != "1-0" || attrs["iogo.service"] != "front" {
		t.Errorf("route span attributes %v", attrs)
	}
	if want := `"trace_id":"` + hex.EncodeToString(root.TraceId) + `"`; !strings.Contains(st.logs.String(), want) {
		t.Errorf("no %s in the handler's logs:\n%s", want, st.logs.String())
	}
}

// BenchmarkStack measures a client request through the gate to a logic
// server that calls a second one, with tracing off and on (every span
// sampled, batched to an exporter that drops them).
func BenchmarkStack(b *testing.B) {
	for _, tt := range []struct {
		name string
		tp   func() oteltrace.TracerProvider
	}{
		{"off", func() oteltrace.TracerProvider { return nil }},
		{"on", func() oteltrace.TracerProvider {
			tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
			b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			return tp
		}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			st := startStack(b, func(string) oteltrace.TracerProvider { return tt.tp() })
			defer st.stop()
			ctx, payload := context.Background(), int64Payload(4)
			b.ReportAllocs()
			for b.Loop() {
				if resp, err := st.client.Request(ctx, 1, 0, payload); err != nil || resp.Status != 0 {
					b.Fatal(resp, err)
				}
			}
		})
	}
}

func names(m map[string]otlptest.Span) []string {
	var out []string
	for n, s := range m {
		out = append(out, s.Service+":"+n)
	}
	return out
}

func attrMap(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[kv.Key] = kv.GetValue().GetStringValue()
	}
	return m
}
