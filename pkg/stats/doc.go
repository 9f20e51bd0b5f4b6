// Package stats counts what logic servers and gates serve and exposes it
// to the dashboard and Prometheus without opening a port on them.
//
// Logic servers open no listening port by design: they only dial the
// brokers. So each logic server keeps a Recorder — per route: calls,
// errors by code, a latency histogram, calls and errors per minute over
// the last hour and per hour over the last day (Series); the most recent
// failed requests and the slowest of the current window, with their trace
// IDs; its executors' queue depth, longest queue and task wait and run
// histograms — and registers itself as a NATS micro service
// (github.com/nats-io/nats.go/micro) named after its service, with one
// endpoint, "stats", whose STATS data is the Recorder's Snapshot. Gates
// register likewise as instances of GateService with a GateSnapshot
// (RegisterGate). `nats micro ls`, `nats micro info <service>` and
// `nats micro stats <service>` show every instance and its figures.
// Components that do serve HTTP — the broker — gather those snapshots over
// NATS when scraped (GatherAll: one $SRV.STATS request, every instance
// answers) and serve them on /metrics (Handler) next to the Go runtime's
// own metrics, and on the broker's dashboard.
//
// A Recorder and a Series are safe for concurrent use. Record on a
// successful request that is not among the slowest takes no lock and
// allocates nothing: its counters are atomics, its route table is fixed at
// creation, and a Series slot packs its period and count into one word.
// The recent-error ring and the slowest list each have their own mutex,
// taken only by requests that enter them and by Snapshot; neither is held
// while taking another lock.
package stats
