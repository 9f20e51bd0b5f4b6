package trace

import (
	"context"
	"fmt"
	"os"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// EnvEndpoint and EnvTracesEndpoint are the standard OpenTelemetry
// variables that turn the OTLP exporter on.
const (
	EnvEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
)

// NewProvider returns a TracerProvider exporting over OTLP/HTTP when
// OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set, and nil —
// tracing off, no exporter cost — when neither is. The exporter reads the
// other standard OTEL_EXPORTER_OTLP_* variables (headers, timeout,
// protocol details). service and instance name the process in the
// resource (service.name, service.instance.id), unless OTEL_SERVICE_NAME
// or OTEL_RESOURCE_ATTRIBUTES say otherwise. The caller shuts the provider
// down to flush it.
func NewProvider(ctx context.Context, service, instance string) (*sdktrace.TracerProvider, error) {
	if os.Getenv(EnvEndpoint) == "" && os.Getenv(EnvTracesEndpoint) == "" {
		return nil, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("trace: otlp exporter: %w", err)
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", service)}
	if instance != "" {
		attrs = append(attrs, attribute.String("service.instance.id", instance))
	}
	res, err := sdkresource.Merge(sdkresource.NewSchemaless(attrs...), sdkresource.Environment())
	if err != nil {
		return nil, fmt.Errorf("trace: resource: %w", err)
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}

// Setup is NewProvider for a service main: it returns the provider as a
// Config.TracerProvider value — nil (not a typed nil) when tracing is off —
// and a shutdown function that flushes and stops it, safe to call when
// tracing is off.
func Setup(ctx context.Context, service, instance string) (oteltrace.TracerProvider, func(context.Context) error, error) {
	tp, err := NewProvider(ctx, service, instance)
	if err != nil || tp == nil {
		return nil, func(context.Context) error { return nil }, err
	}
	return tp, tp.Shutdown, nil
}
