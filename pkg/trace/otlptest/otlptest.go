// Package otlptest is an in-test OTLP/HTTP trace receiver: it decodes the
// protobuf export requests that OpenTelemetry exporters send and keeps the
// spans, so tests can check what a traced system really exported.
package otlptest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Span is a received span with the service.name of its resource.
type Span struct {
	Service string
	*tracepb.Span
}

// Receiver collects the spans exported to it. It is safe for concurrent use.
type Receiver struct {
	// URL is the endpoint to export to (OTEL_EXPORTER_OTLP_ENDPOINT).
	URL string

	mu    sync.Mutex
	spans []Span
}

// Start runs a Receiver on a random loopback port until the test ends.
// Keep-alives are off, so no idle exporter connection outlives the test.
func Start(t testing.TB) *Receiver {
	rc := &Receiver{}
	hs := httptest.NewUnstartedServer(rc)
	hs.Config.SetKeepAlivesEnabled(false)
	hs.Start()
	t.Cleanup(hs.Close)
	rc.URL = hs.URL
	return rc
}

// ServeHTTP accepts POST /v1/traces with a protobuf ExportTraceServiceRequest.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var req coltrace.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(body, &req)
	}
	if r.URL.Path != "/v1/traces" || err != nil {
		http.Error(w, fmt.Sprint(r.URL.Path, err), http.StatusBadRequest)
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
				rc.spans = append(rc.spans, Span{svc, s})
			}
		}
	}
	rc.mu.Unlock()
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// Trace returns the spans, by name, of the trace whose span named root
// started last (earlier requests make traces too); empty if there is none.
func (rc *Receiver) Trace(root string) map[string]Span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var id []byte
	var start uint64
	for _, s := range rc.spans {
		if s.Name == root && s.StartTimeUnixNano >= start {
			id, start = s.TraceId, s.StartTimeUnixNano
		}
	}
	m := make(map[string]Span)
	for _, s := range rc.spans {
		if id != nil && bytes.Equal(s.TraceId, id) {
			m[s.Name] = s
		}
	}
	return m
}
