package logic

import (
	"context"
	"log/slog"
	"strconv"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/trace"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// Tracing of the logic side (package trace). Every function here runs only
// when the server's or client's tracer is not nil.

// traceRequest starts the server span of request t, child of the trace
// context in its headers, and gives c its context and a logger carrying
// the trace ID.
func (s *Server) traceRequest(c *Ctx, t task) oteltrace.Span {
	ctx := s.tr.Extract(c.ctx, t.msg.Header)
	r := t.route
	ctx, span := s.tr.Start(ctx, "route "+r.String(), oteltrace.SpanKindServer,
		trace.AttrRoute.String(r.String()),
		trace.AttrCmdMerge.Int(int(r.CmdMerge())),
		trace.AttrUser.Int64(t.meta.UserID),
		trace.AttrService.String(s.cfg.Service),
		trace.AttrInstance.String(s.cfg.InstanceID),
		trace.AttrGate.String(t.meta.Gate),
		trace.AttrHandler.String(r.Func),
		trace.AttrFile.String(r.File),
		trace.AttrLine.Int(r.Line),
	)
	c.ctx = ctx
	c.log = s.log.With(slog.String("trace_id", trace.ID(ctx)))
	return span
}

// endSpan ends span, recording e if the request failed.
func endSpan(span oteltrace.Span, e *errs.Error) {
	if e != nil {
		trace.Fail(span, e.Code, e.Msg)
	}
	span.End()
}

// traceOut starts a span of an outgoing message (a call, an event, a
// push) and injects its context into h. With tracing off it returns the
// no-op span at no cost; the caller ends the span.
func (cl *Client) traceOut(ctx context.Context, name string, kind oteltrace.SpanKind, h nats.Header, attrs ...attribute.KeyValue) oteltrace.Span {
	ctx, span := cl.tr.Start(ctx, name, kind, attrs...)
	cl.tr.Inject(ctx, h)
	return span
}

// routeName returns "cmd-sub".
func routeName(cmd, sub int32) string {
	return strconv.Itoa(int(cmd)) + "-" + strconv.Itoa(int(sub))
}

// endCall ends the span of a call with its outcome.
func endCall(span oteltrace.Span, err error) {
	if err != nil {
		e := errs.From(err)
		trace.Fail(span, e.Code, err.Error())
	}
	span.End()
}

// traceEvent starts the consumer span of an event, child of the
// publisher's span, and gives c its context and a trace-ID logger.
func (s *Server) traceEvent(c *Ctx, sb *Subscription, h nats.Header) oteltrace.Span {
	ctx := s.tr.Extract(c.ctx, h)
	ctx, span := s.tr.Start(ctx, "event "+sb.Topic, oteltrace.SpanKindConsumer,
		trace.AttrTopic.String(sb.Topic),
		trace.AttrUser.Int64(c.meta.UserID),
		trace.AttrService.String(s.cfg.Service),
		trace.AttrInstance.String(s.cfg.InstanceID),
		trace.AttrHandler.String(sb.Func),
		trace.AttrFile.String(sb.File),
		trace.AttrLine.Int(sb.Line),
	)
	c.ctx = ctx
	c.log = s.log.With(slog.String("trace_id", trace.ID(ctx)))
	return span
}

// callUser returns the user a call is made for, from its headers.
func callUser(m *nats.Msg) int64 {
	u, _ := strconv.ParseInt(m.Header.Get(fabric.HeaderUser), 10, 64)
	return u
}
