// Package sim simulates players to test and load an iogo deployment: many
// connections, each running a scenario of requests, pauses and expected
// pushes, measured into a report (throughput, latency quantiles, errors by
// code, pushes) that prints as text, JSON or an HTML plot. `iogo sim` is its
// command line; tests and benchmarks use it as a library:
//
//	sc, _ := builtin.Catalog().Build("echo", sim.Params{Payload: 32})
//	rep, err := sim.Run(ctx, sim.Config{
//		URL: "ws://127.0.0.1:10100/websocket", Scenario: sc,
//		Players: 1000, RampUp: 2 * time.Second, Duration: 15 * time.Second,
//	})
//	rep.WriteText(os.Stdout)
//
// A scenario is plain data: Setup steps run once per player after it
// connects, Loop steps over and over until the run's bound (a duration, a
// total request count or a per-player iteration count). Steps are typed
// requests with optional checks (Request), heartbeats, think time,
// expected pushes and custom code (Do). A module adds its scenarios to the
// Catalog the caller builds from the built-in one (package builtin).
//
// # Measurement
//
// A request's latency is the time from before its envelope is written to
// its response's arrival, on a connection of its own per player (closed
// loop: one request in flight per player; Config.Rate caps each player's
// rate instead). Latencies go to log-linear histograms (Histogram) with a
// relative error under 0.8%, as HdrHistogram does: quantiles are exact to
// that, min, max and mean exactly. Latency is sampled every Config.Interval
// for the over-time series.
//
// # Concurrency
//
// Run starts one goroutine per player (plus the client's reader) and one
// sampler; players record into a few mutex-guarded shards, so recording
// costs an uncontended lock whatever the number of players. The steps of
// one player run one at a time on its goroutine: a Step's functions need
// no locking for the Player they get. Run returns once every player has
// disconnected; requests in flight when the bound comes are allowed to
// finish (or time out) and are not counted as errors.
package sim
