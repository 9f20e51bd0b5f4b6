package tests

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/proto/iohao"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OTLP/HTTP trace receiver for the service processes.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []recvSpan
}

type recvSpan struct {
	service string
	*tracepb.Span
}

func (rc *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var req coltrace.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(body, &req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	for _, rs := range req.ResourceSpans {
		var svc string
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				svc = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				rc.spans = append(rc.spans, recvSpan{svc, s})
			}
		}
	}
	rc.mu.Unlock()
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// trace returns the spans, by name, of the trace of the last span named
// root.
func (rc *otlpReceiver) trace(root string) map[string]recvSpan {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var id []byte
	var start uint64
	for _, s := range rc.spans {
		if s.Name == root && s.StartTimeUnixNano >= start {
			id, start = s.TraceId, s.StartTimeUnixNano
		}
	}
	m := map[string]recvSpan{}
	for _, s := range rc.spans {
		if id != nil && bytes.Equal(s.TraceId, id) {
			m[s.Name] = s
		}
	}
	return m
}

// TestTraceAcrossProcesses runs a broker, a testsvc logic server and an
// external server as processes exporting traces over OTLP/HTTP (the
// standard OTEL_EXPORTER_OTLP_ENDPOINT) to a receiver in the test, sends a
// client request whose handler calls a route, and checks that the spans of
// both processes form one trace with the right parents.
func TestTraceAcrossProcesses(t *testing.T) {
	rc := &otlpReceiver{}
	hs := httptest.NewServer(rc)
	defer hs.Close()
	// Inherited by the processes: export there, in batches every 50 ms.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", hs.URL)
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
	var spans map[string]recvSpan
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		spans = rc.trace(gate)
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
		if s.service != w.service {
			t.Errorf("%s: service %q, want %q", w.name, s.service, w.service)
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
