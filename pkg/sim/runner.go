package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iogo-dev/iogo/pkg/client"
)

// Defaults applied to zero fields of a Config.
const (
	DefaultPlayers         = 1
	DefaultDuration        = 10 * time.Second
	DefaultRequestTimeout  = 5 * time.Second
	DefaultInterval        = time.Second
	DefaultDialConcurrency = 64
)

// Config configures a run. Zero fields take the defaults above; a run is
// bounded by Duration unless Requests or Iterations bound it instead.
type Config struct {
	// URL is the external server to connect to, as client.Dial takes it:
	// ws://host:port/websocket, tcp://host:port, kcp://host:port.
	URL string
	// Scenario is what every player does.
	Scenario *Scenario
	// Players is the number of simulated players, one connection each.
	Players int
	// RampUp spreads the players' starts evenly over this time; 0 starts
	// them all at once (DialConcurrency at a time).
	RampUp time.Duration
	// Duration bounds the run, ramp-up included. Default DefaultDuration
	// when neither Requests nor Iterations is set; otherwise 0 = unbounded.
	Duration time.Duration
	// Requests bounds the number of requests sent by all players together.
	Requests int64
	// Iterations bounds the loop iterations of each player.
	Iterations int
	// Rate caps each player's request rate, in requests per second; 0 sends
	// the next request as soon as the last is answered (closed loop).
	Rate float64
	// RequestTimeout bounds a request's wait for its response.
	RequestTimeout time.Duration
	// Interval is the time between samples of the latency-over-time series
	// and between Progress calls.
	Interval time.Duration
	// DialConcurrency bounds the connections being set up at once.
	DialConcurrency int
	// DialOptions are passed to client.Dial.
	DialOptions []client.Option
	// Progress, if not nil, is called every Interval from one goroutine.
	Progress func(Progress)
}

// Progress is a run's state, as Config.Progress reports it.
type Progress struct {
	Elapsed time.Duration
	// Done is the fraction of the run's bound reached (0..1), -1 when the
	// run is bounded by Iterations only.
	Done      float64
	Players   int // players of the run
	Connected int // players connected now
	Requests  int64
	Errors    int64
	// RPS and P99 are those of the last interval.
	RPS float64
	P99 time.Duration
}

// Validate reports the first invalid field of c; zero fields are valid.
// Run calls it.
func (c *Config) Validate() error {
	if c.URL == "" {
		return errors.New("sim: no URL")
	}
	if err := c.Scenario.validate(); err != nil {
		return err
	}
	switch {
	case c.Players < 0:
		return fmt.Errorf("sim: negative Players %d", c.Players)
	case c.RampUp < 0, c.Duration < 0, c.RequestTimeout < 0, c.Interval < 0:
		return errors.New("sim: negative duration in Config")
	case c.Requests < 0, c.Iterations < 0, c.Rate < 0, c.DialConcurrency < 0:
		return errors.New("sim: negative bound in Config")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Players == 0 {
		c.Players = DefaultPlayers
	}
	if c.Duration == 0 && c.Requests == 0 && c.Iterations == 0 {
		c.Duration = DefaultDuration
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.DialConcurrency == 0 {
		c.DialConcurrency = DefaultDialConcurrency
	}
	return c
}

// runner is one run in progress.
type runner struct {
	cfg   Config
	stats *stats
	steps []Step // Setup then Loop, indexed like stats.steps
	start time.Time

	// stopCtx ends when the players must finish: the bound is reached or
	// the caller's context ended. stop is its Done channel.
	stopCtx context.Context
	halt    context.CancelFunc
	stop    <-chan struct{}

	budget    atomic.Int64 // requests left when Config.Requests is set
	connected atomic.Int64
	everConn  atomic.Int64
	pushes    atomic.Int64
	dropped   atomic.Int64
	pending   atomic.Int64 // players not yet through setup
	steady    atomic.Bool  // every player is through setup

	rampMu   sync.Mutex
	rampAt   time.Time // when the last player was through setup
	rampReqs int64     // requests completed by then
	rampErrs int64     // errors by then
}

// Run simulates cfg.Players players running cfg.Scenario against the
// server at cfg.URL and returns the report. It returns early, with the
// report of what ran, when ctx ends. It returns an error only for an
// invalid Config; failures during the run (refused connections, error
// responses) are counted in the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	r := &runner{
		cfg:   cfg,
		steps: append(append([]Step(nil), cfg.Scenario.Setup...), cfg.Scenario.Loop...),
		stats: newStats(stepNames(cfg.Scenario)),
	}
	r.stopCtx, r.halt = context.WithCancel(ctx)
	defer r.halt()
	r.stop = r.stopCtx.Done()
	r.budget.Store(cfg.Requests)
	r.pending.Store(int64(cfg.Players))
	r.start = time.Now()

	var wg sync.WaitGroup
	dialSem := make(chan struct{}, cfg.DialConcurrency)
	for i := range cfg.Players {
		wg.Go(func() { r.player(i, dialSem) })
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()

	var series []Sample
	var agg Histogram
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	var deadline <-chan time.Time
	if cfg.Duration > 0 {
		t := time.NewTimer(cfg.Duration)
		defer t.Stop()
		deadline = t.C
	}
	var last time.Time = r.start
	sample := func(now time.Time) {
		reqs, errs, ireqs, ierrs := r.stats.sample(&agg)
		secs := now.Sub(last).Seconds()
		last = now
		s := Sample{
			T: now.Sub(r.start).Seconds(), Requests: ireqs, Errors: ierrs,
			Players: int(r.connected.Load()),
			P50MS:   ms(agg.Quantile(0.5)), P90MS: ms(agg.Quantile(0.9)),
			P99MS: ms(agg.Quantile(0.99)), MaxMS: ms(agg.Max()),
		}
		if secs > 0 {
			s.RPS = float64(ireqs) / secs
		}
		series = append(series, s)
		if cfg.Progress != nil {
			cfg.Progress(Progress{
				Elapsed: now.Sub(r.start), Done: r.done(now, reqs), Players: cfg.Players,
				Connected: s.Players, Requests: reqs, Errors: errs, RPS: s.RPS, P99: agg.Quantile(0.99),
			})
		}
	}
loop:
	for {
		select {
		case now := <-tick.C:
			sample(now)
		case <-deadline:
			break loop
		case <-ctx.Done():
			break loop
		case <-allDone:
			break loop
		}
	}
	end := time.Now()
	endReqs, endErrs := r.stats.totals()
	r.halt()
	<-allDone
	if now := time.Now(); now.Sub(last) > cfg.Interval/10 || len(series) == 0 {
		sample(now) // the partial last interval
	}
	return r.report(end, endReqs, endErrs, series), nil
}

// done returns the fraction of the run's bound reached.
func (r *runner) done(now time.Time, reqs int64) float64 {
	f := -1.0
	if r.cfg.Duration > 0 {
		f = now.Sub(r.start).Seconds() / r.cfg.Duration.Seconds()
	}
	if r.cfg.Requests > 0 {
		f = max(f, float64(reqs)/float64(r.cfg.Requests))
	}
	return min(f, 1)
}

func (r *runner) stopped() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// player is the life of player i: wait for its start, connect, set up,
// loop, disconnect.
func (r *runner) player(i int, dialSem chan struct{}) {
	sh := r.stats.shard(i)
	p := &Player{ID: i, Iteration: -1, run: r, Rand: rand.New(rand.NewPCG(uint64(i), uint64(r.start.UnixNano())))}
	defer func() {
		if p.timer != nil {
			p.timer.Stop()
		}
	}()
	setupDone := false
	defer func() {
		if !setupDone {
			r.setupDone()
		}
	}()
	if r.cfg.RampUp > 0 && r.cfg.Players > 1 {
		p.sleep(r.cfg.RampUp * time.Duration(i) / time.Duration(r.cfg.Players))
	}
	select {
	case dialSem <- struct{}{}:
	case <-r.stop:
		return
	}
	if r.stopped() {
		<-dialSem
		return
	}
	dctx, cancel := context.WithTimeout(r.stopCtx, r.cfg.RequestTimeout)
	c, err := client.Dial(dctx, r.cfg.URL, r.cfg.DialOptions...)
	cancel()
	<-dialSem
	if err != nil {
		if !r.stopped() {
			sh.fail(-1, CodeDial, err.Error(), 0, false, r.steady.Load())
		}
		return
	}
	p.c = c
	r.connected.Add(1)
	r.everConn.Add(1)
	defer func() {
		r.connected.Add(-1)
		_ = c.Close()
		n := p.pushes
		for range c.Pushes() { // closed by Close: drain what is left
			n++
		}
		r.pushes.Add(n)
		r.dropped.Add(int64(c.DroppedPushes()))
	}()

	nSetup := len(r.cfg.Scenario.Setup)
	for j := range nSetup {
		if r.stopped() {
			return
		}
		if !r.step(p, sh, j) {
			return
		}
	}
	setupDone = true
	r.setupDone()
	for it := 0; r.cfg.Iterations == 0 || it < r.cfg.Iterations; it++ {
		p.Iteration = it
		for j := nSetup; j < len(r.steps); j++ {
			if r.stopped() {
				return
			}
			if !r.step(p, sh, j) {
				return
			}
		}
	}
}

// setupDone counts a player through setup (or out); the last one marks
// the end of the ramp-up.
func (r *runner) setupDone() {
	if r.pending.Add(-1) != 0 {
		return
	}
	r.steady.Store(true)
	reqs, errs := r.stats.totals()
	r.rampMu.Lock()
	r.rampAt, r.rampReqs, r.rampErrs = time.Now(), reqs, errs
	r.rampMu.Unlock()
}

// step runs step j for p and records it. It reports whether the player
// goes on: false when its connection is gone, the request budget is spent
// or, during setup, the step failed.
func (r *runner) step(p *Player, sh *shard, j int) bool {
	st := r.steps[j]
	setup := j < len(r.cfg.Scenario.Setup)
	if st.kind != kindRequest {
		// The step ends with the run: a push wait is not a failure then.
		_, err := st.run(r.stopCtx, p)
		if err == nil || r.stopped() {
			return true
		}
		code, fatal := classify(err)
		sh.fail(j, code, err.Error(), 0, false, r.steady.Load())
		return !fatal && !setup && p.c.Err() == nil
	}

	if r.cfg.Requests > 0 && r.budget.Add(-1) < 0 {
		r.halt()
		return false
	}
	if r.cfg.Rate > 0 {
		now := time.Now()
		if p.nextReq.After(now) {
			p.sleep(p.nextReq.Sub(now))
			if r.stopped() {
				return false
			}
			now = p.nextReq
		}
		p.nextReq = now.Add(time.Duration(float64(time.Second) / r.cfg.Rate))
	}
	// In-flight requests are not cancelled when the run stops: they finish
	// or time out, so that stopping never shows up as errors.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(r.stopCtx), r.cfg.RequestTimeout)
	began := time.Now()
	resp, err := st.run(rctx, p)
	took := time.Since(began)
	cancel()
	switch {
	case err != nil && resp == nil && p.c.Err() != nil:
		sh.fail(j, CodeConn, p.c.Err().Error(), 0, false, r.steady.Load())
		return false
	case err != nil && resp == nil:
		code, fatal := classify(err)
		sh.fail(j, code, err.Error(), 0, false, r.steady.Load())
		return !fatal && !setup
	case resp.Status != st.expect:
		code := fmt.Sprint(resp.Status)
		msg := resp.ValidMsg
		if resp.Status == 0 {
			code, msg = CodeAssert, fmt.Sprintf("status 0, want %d", st.expect)
		}
		sh.fail(j, code, msg, took, true, r.steady.Load())
		return !setup
	case st.check != nil && resp.Status == 0:
		if err := st.check(p, resp); err != nil {
			code, _ := classify(err)
			sh.fail(j, code, err.Error(), took, true, r.steady.Load())
			return !setup
		}
	}
	sh.ok(j, took, r.steady.Load())
	return true
}

func (r *runner) report(end time.Time, endReqs, endErrs int64, series []Sample) *Report {
	rep := &Report{
		Scenario: r.cfg.Scenario.Name, URL: r.cfg.URL, Players: r.cfg.Players,
		Connected: int(r.everConn.Load()), Started: r.start,
		Seconds: end.Sub(r.start).Seconds(),
		Pushes:  r.pushes.Load(), PushesDropped: r.dropped.Load(),
		Series: series, RampUpMS: ms(r.cfg.RampUp), Rate: r.cfg.Rate,
	}
	r.stats.fill(rep)
	if rep.Seconds > 0 {
		rep.RPS = float64(rep.Requests) / rep.Seconds
	}
	r.rampMu.Lock()
	rampAt, rampReqs, rampErrs := r.rampAt, r.rampReqs, r.rampErrs
	r.rampMu.Unlock()
	if !rampAt.IsZero() && end.After(rampAt) {
		// The steady rate: requests completed from the moment every player
		// was connected and set up to the end of the run, leaving out the
		// ramp-up and the responses to requests in flight at the end.
		rep.SteadySeconds = end.Sub(rampAt).Seconds()
		rep.SteadyRPS = float64(endReqs-rampReqs) / rep.SteadySeconds
		rep.SteadyErrors = endErrs - rampErrs
	}
	return rep
}

// ms converts a duration to milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
