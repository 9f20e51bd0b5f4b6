// Package stats counts what logic servers serve and exposes it to
// Prometheus without opening a port on them.
//
// Logic servers open no listening port by design: they only dial the
// brokers. So each logic server keeps a Recorder (per route: calls, errors
// by code, a latency histogram; its executors' queue depth) and registers
// itself as a NATS micro service (github.com/nats-io/nats.go/micro) named
// after its service, with one endpoint, "stats", whose STATS data is the
// Recorder's Snapshot: `nats micro ls`, `nats micro info <service>` and
// `nats micro stats <service>` show every instance and its per-route
// figures. Components that do serve HTTP — the broker — gather those
// snapshots over NATS when scraped (Gather: one $SRV.STATS request, every
// instance answers) and serve them on /metrics (Handler) next to the Go
// runtime's own metrics.
//
// A Recorder is safe for concurrent use; its counters are atomics and its
// route table is fixed at creation.
package stats
