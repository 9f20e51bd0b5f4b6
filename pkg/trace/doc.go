// Package trace is iogo's one place for OpenTelemetry tracing: W3C trace
// context carried in NATS headers (Header, a propagation.TextMapCarrier over
// nats.Header), a nil-safe Tracer that the gate, the logic servers and their
// clients start spans with, and NewProvider, the OTLP/HTTP exporter set up
// from the standard OTEL_* environment for the service mains.
//
// Nothing here is global: a TracerProvider is passed in through each
// component's Config. A nil *Tracer (what New returns for a nil provider)
// is valid and costs a nil check per call, so that tracing off adds nothing
// measurable to the hot path.
//
// Span layout of one client request:
//
//	gate <route>      (server, external)  receive → reply to the client
//	└ forward <route> (producer, external) publish to the fabric
//	  └ <route>       (server, logic)     the handler
//	    ├ call <route>    (client)  Call / CallAll; send <route> (producer)
//	    │ └ <route>       (server, the called logic server)
//	    ├ publish <topic> (producer) → event <topic> (consumer)
//	    └ push <route>    (producer)
//
// A Tracer is safe for concurrent use.
package trace
