package external

import (
	"context"
	"strconv"

	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/trace"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// Tracing of the gate (package trace); these run only when Server.tr is
// not nil.

// traceForward starts the gate span of a client request, which lasts until
// the reply is relayed (endSpan), and its child producer span around the
// publish, whose context it injects into h for the logic server.
func (s *Server) traceForward(sess *session, meta *fabric.Meta, h nats.Header) (gate, fwd oteltrace.Span) {
	route := strconv.Itoa(int(meta.Cmd)) + "-" + strconv.Itoa(int(meta.Sub))
	attrs := []attribute.KeyValue{
		trace.AttrRoute.String(route),
		trace.AttrCmdMerge.Int(int(meta.CmdMerge())),
		trace.AttrUser.Int64(meta.UserID),
		trace.AttrGate.String(s.cfg.ID),
		attribute.Int64("iogo.session", int64(sess.id)),
		attribute.String("iogo.codec", sess.codec.Name()),
	}
	ctx, gate := s.tr.Start(context.Background(), "gate "+route, oteltrace.SpanKindServer, attrs...)
	ctx, fwd = s.tr.Start(ctx, "forward "+route, oteltrace.SpanKindProducer, trace.AttrRoute.String(route))
	s.tr.Inject(ctx, h)
	return gate, fwd
}

// endSpan ends a gate span (nil when tracing is off) with the reply's
// status.
func endSpan(span oteltrace.Span, status int32, msg string) {
	if span == nil {
		return
	}
	if status != 0 {
		trace.Fail(span, status, msg)
	}
	span.End()
}
