package tests

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/trace/otlptest"
	"github.com/iogo-dev/iogo/proto/iohao"
)

// TestTraceAcrossProcesses runs a broker, a testsvc logic server and an
// external server as processes exporting traces over OTLP/HTTP (the
// standard OTEL_EXPORTER_OTLP_ENDPOINT) to a receiver in the test, sends a
// client request whose handler calls a route, and checks that the spans of
// both processes form one trace with the right parents.
func TestTraceAcrossProcesses(t *testing.T) {
	rc := otlptest.Start(t)
	// Inherited by the processes: export there, in batches every 50 ms.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rc.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")

	url := startBroker(t)
	startSvc(t, url, "calls", "calls-1")
	ext := startProc(t, "external", "external", "-brokers", url, "-ws", "127.0.0.1:0", "-tcp", "127.0.0.1:0")
	p := &player{t: t, name: "traced", c: dialSpec(t, ext.ready["tcp"])}
	p.login(7)
	if got := ok(p, cmdCalls, subSelfCall, &iohao.LongValue{Value: 21}, &iohao.LongValue{}); got.Value != 42 {
		t.Fatalf("got %d", got.Value)
	}

	gate := fmt.Sprintf("gate %d-%d", cmdCalls, subSelfCall)
	want := []struct{ name, service, parent string }{
		{gate, "external", ""},
		{fmt.Sprintf("forward %d-%d", cmdCalls, subSelfCall), "external", gate},
		{fmt.Sprintf("route %d-%d", cmdCalls, subSelfCall), "calls", fmt.Sprintf("forward %d-%d", cmdCalls, subSelfCall)},
		{fmt.Sprintf("call %d-%d", cmdCalls, subDouble), "calls", fmt.Sprintf("route %d-%d", cmdCalls, subSelfCall)},
		{fmt.Sprintf("route %d-%d", cmdCalls, subDouble), "calls", fmt.Sprintf("call %d-%d", cmdCalls, subDouble)},
	}
	var spans map[string]otlptest.Span
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		spans = rc.Trace(gate)
		if len(spans) >= len(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("spans of the trace: %d, want %d", len(spans), len(want))
		}
	}
	for _, w := range want {
		s, found := spans[w.name]
		if !found {
			t.Errorf("no span %q", w.name)
			continue
		}
		if s.Service != w.service {
			t.Errorf("%s: service %q, want %q", w.name, s.Service, w.service)
		}
		var parent []byte
		if w.parent != "" {
			parent = spans[w.parent].SpanId
		}
		if !bytes.Equal(s.ParentSpanId, parent) {
			t.Errorf("%s: parent %x, want %x (%s)", w.name, s.ParentSpanId, parent, w.parent)
		}
	}
}
