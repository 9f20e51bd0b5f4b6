package trace

import (
	"context"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// Scope is the instrumentation scope name of iogo's spans.
const Scope = "github.com/iogo-dev/iogo"

// Attribute keys of iogo's spans.
const (
	AttrRoute    = attribute.Key("iogo.route")     // "cmd-sub"
	AttrCmdMerge = attribute.Key("iogo.cmd_merge") // cmd<<16 | sub
	AttrUser     = attribute.Key("iogo.user")
	AttrService  = attribute.Key("iogo.service")
	AttrInstance = attribute.Key("iogo.instance")
	AttrGate     = attribute.Key("iogo.gate")
	AttrHandler  = attribute.Key("code.function")
	AttrFile     = attribute.Key("code.filepath")
	AttrLine     = attribute.Key("code.lineno")
	AttrTopic    = attribute.Key("iogo.topic")
	AttrStatus   = attribute.Key("iogo.status") // error code of the reply
)

// noSpan is the immutable non-recording span of a nil Tracer; it is not
// ctx's span, so ending it never ends a caller's span.
var noSpan = oteltrace.SpanFromContext(context.Background())

// Header adapts nats.Header to propagation.TextMapCarrier. Keys are used
// as given (W3C's lower-case "traceparent", "tracestate"), not
// canonicalised, matching fabric.HeaderTraceParent.
type Header nats.Header

// Get returns the first value of key.
func (h Header) Get(key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set sets key to value.
func (h Header) Set(key, value string) { h[key] = []string{value} }

// Keys lists the keys in h.
func (h Header) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}

// Tracer starts iogo's spans. The nil *Tracer is valid: it starts no span,
// injects and extracts nothing.
type Tracer struct {
	t    oteltrace.Tracer
	prop propagation.TextMapPropagator
}

// New returns a Tracer from tp, or nil (tracing off) when tp is nil.
func New(tp oteltrace.TracerProvider) *Tracer {
	if tp == nil {
		return nil
	}
	return &Tracer{
		t:    tp.Tracer(Scope),
		prop: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
}

// Enabled reports whether t starts spans.
func (t *Tracer) Enabled() bool { return t != nil }

// Start starts a span of kind named name as a child of ctx's span. With
// a nil t it returns ctx and a non-recording span.
func (t *Tracer) Start(ctx context.Context, name string, kind oteltrace.SpanKind, attrs ...attribute.KeyValue) (context.Context, oteltrace.Span) {
	if t == nil {
		return ctx, noSpan
	}
	return t.t.Start(ctx, name, oteltrace.WithSpanKind(kind), oteltrace.WithAttributes(attrs...))
}

// Inject writes ctx's trace context into h, which must not be nil.
func (t *Tracer) Inject(ctx context.Context, h nats.Header) {
	if t == nil {
		return
	}
	t.prop.Inject(ctx, Header(h))
}

// Extract returns ctx with the remote trace context found in h, if any.
func (t *Tracer) Extract(ctx context.Context, h nats.Header) context.Context {
	if t == nil || h == nil {
		return ctx
	}
	return t.prop.Extract(ctx, Header(h))
}

// RemoteTraceID returns the trace ID that h's W3C traceparent carries,
// for a process that records a request without tracing it (no span of its
// own): the ID still points at the caller's spans. The zero ID when h has
// none or a malformed one.
func RemoteTraceID(h nats.Header) oteltrace.TraceID {
	sc := oteltrace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), Header(h)))
	return sc.TraceID()
}

// Fail records an error code and message on span and marks it failed.
func Fail(span oteltrace.Span, code int32, msg string) {
	span.SetAttributes(AttrStatus.Int(int(code)))
	span.SetStatus(codes.Error, msg)
}

// ID returns the trace ID of ctx's span, or "" when there is none.
func ID(ctx context.Context) string {
	sc := oteltrace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}
