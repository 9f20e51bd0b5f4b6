package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/chzyer/readline"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/iogo-dev/iogo/pkg/sim"
	"github.com/iogo-dev/iogo/pkg/sim/builtin"
	"github.com/iogo-dev/iogo/pkg/svcmain"
	"github.com/iogo-dev/iogo/pkg/svcmain/svcbase"
)

// simSettings is what `iogo sim` reads from its flags.
type simSettings struct {
	cfg      sim.Config
	scenario string
	params   sim.Params
	json     bool
	plot     string
	quiet    bool
	list     bool
}

func parseSimArgs(args []string, lookupEnv func(string) (string, bool), stderr io.Writer) (simSettings, error) {
	var s simSettings
	fs := flag.NewFlagSet("iogo sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&s.cfg.URL, "url", "ws://127.0.0.1:10100/websocket", "external server: ws://HOST:PORT/websocket, wss://…, tcp://HOST:PORT, tls://HOST:PORT or kcp://HOST:PORT (?codec=json for JSON)")
	tlsOpts := tlsFlags(fs) // tlsflags.go
	fs.StringVar(&s.scenario, "scenario", "echo", "scenario to run (-list shows them)")
	fs.IntVar(&s.cfg.Players, "players", 100, "simulated players, one connection each")
	fs.DurationVar(&s.cfg.RampUp, "ramp", time.Second, "spread the players' starts over this time")
	fs.DurationVar(&s.cfg.Duration, "duration", sim.DefaultDuration, "length of the run, ramp-up included (unbounded when -n or -iterations is set and -duration is not)")
	fs.Int64Var(&s.cfg.Requests, "n", 0, "stop after this many requests in all (0 = no bound)")
	fs.IntVar(&s.cfg.Iterations, "iterations", 0, "stop each player after this many loop iterations (0 = no bound)")
	fs.Float64Var(&s.cfg.Rate, "rate", 0, "cap each player's requests per second (0 = closed loop: next request when the last is answered)")
	fs.DurationVar(&s.params.Think, "think", 0, "pause at the end of each loop iteration")
	fs.IntVar(&s.params.Payload, "payload", 32, "bytes of text in each echo request")
	fs.DurationVar(&s.cfg.RequestTimeout, "timeout", sim.DefaultRequestTimeout, "request (and connect) timeout")
	fs.DurationVar(&s.cfg.Interval, "interval", sim.DefaultInterval, "sampling interval of the latency-over-time series")
	fs.BoolVar(&s.json, "json", false, "write the report as JSON instead of text")
	fs.StringVar(&s.plot, "plot", "", "also write latency and throughput over time to this HTML file")
	fs.BoolVar(&s.quiet, "quiet", false, "no progress line on stderr")
	fs.BoolVar(&s.list, "list", false, "list the scenarios and exit")
	svcbase.AnnotateEnv(fs, "IOGO_SIM_")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: iogo sim [flags]

Simulates players against an external server: each connects and runs the
scenario, until the run's bound. Prints a report (throughput, latency
quantiles, errors by code, pushes) to stdout, progress to stderr. Exits 1
when any request failed.

`)
		fs.PrintDefaults()
	}
	if err := svcbase.ParseFlags(fs, "IOGO_SIM_", args, lookupEnv); err != nil {
		return s, err
	}
	opts, err := tlsOpts()
	if err != nil {
		return s, err
	}
	s.cfg.DialOptions = append(s.cfg.DialOptions, opts...)
	durationSet := false
	fs.Visit(func(f *flag.Flag) { durationSet = durationSet || f.Name == "duration" })
	if _, ok := lookupEnv(svcbase.EnvName("IOGO_SIM_", "duration")); ok {
		durationSet = true
	}
	if !durationSet && (s.cfg.Requests > 0 || s.cfg.Iterations > 0) {
		s.cfg.Duration = 0
	}
	if s.cfg.Players <= 0 {
		return s, fmt.Errorf("-players %d: want at least 1", s.cfg.Players)
	}
	return s, nil
}

func runSim(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	s, err := parseSimArgs(args, lookupEnv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return svcmain.ExitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "iogo sim:", err)
		return svcmain.ExitUsage
	}
	catalog := builtin.Catalog()
	if s.list {
		for _, n := range catalog.Names() {
			fmt.Fprintf(stdout, "%-8s %s\n", n, catalog[n].Doc)
		}
		return svcmain.ExitOK
	}
	s.cfg.Scenario, err = catalog.Build(s.scenario, s.params)
	if err != nil {
		fmt.Fprintln(stderr, "iogo sim:", err)
		return svcmain.ExitUsage
	}
	var prog *progressLine
	if !s.quiet {
		prog = newProgressLine(stderr, s.cfg.Interval)
		s.cfg.Progress = prog.update
	}
	rep, err := sim.Run(ctx, s.cfg)
	prog.finish()
	if err != nil {
		fmt.Fprintln(stderr, "iogo sim:", err)
		return svcmain.ExitUsage
	}
	if s.json {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "iogo sim:", err)
		return svcmain.ExitError
	}
	if s.plot != "" {
		if err := writePlot(s.plot, rep); err != nil {
			fmt.Fprintln(stderr, "iogo sim:", err)
			return svcmain.ExitError
		}
		if !s.quiet {
			fmt.Fprintln(stderr, "iogo sim: plot written to", s.plot)
		}
	}
	if rep.Errors > 0 {
		return svcmain.ExitError
	}
	return svcmain.ExitOK
}

func writePlot(path string, rep *sim.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := rep.WritePlot(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// progressLine shows a run's progress on stderr: one line redrawn in
// place on a terminal, a plain line every plainEvery otherwise (logs, CI).
type progressLine struct {
	w        io.Writer
	tty      bool
	every    int // samples between plain lines
	mu       sync.Mutex
	n        int
	drawn    bool
	finished bool
}

// plainEvery is the time between progress lines when stderr is not a
// terminal.
const plainEvery = 5 * time.Second

func newProgressLine(w io.Writer, interval time.Duration) *progressLine {
	every := 1
	if interval > 0 {
		every = max(int(plainEvery/interval), 1)
	}
	return &progressLine{w: w, tty: isTerminal(w), every: every}
}

func (p *progressLine) update(pr sim.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	p.n++
	status := fmt.Sprintf("%5.1fs  players %d/%d  requests %d  %.0f req/s  p99 %s  errors %d",
		pr.Elapsed.Seconds(), pr.Connected, pr.Players, pr.Requests, pr.RPS, fmtDur(pr.P99), pr.Errors)
	if p.tty {
		bar := ""
		if pr.Done >= 0 {
			const width = 20
			n := int(pr.Done*width + 0.5)
			bar = fmt.Sprintf("[%s%s] %3.0f%% ", strings.Repeat("#", n), strings.Repeat(".", width-n), pr.Done*100)
		}
		fmt.Fprintf(p.w, "\r\x1b[K%s%s", bar, status)
		p.drawn = true
		return
	}
	if p.n%p.every == 0 {
		fmt.Fprintln(p.w, "iogo sim:", status)
	}
}

// finish ends the redrawn line. It is nil-safe.
func (p *progressLine) finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finished = true
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

// fmtDur renders a latency compactly.
func fmtDur(d time.Duration) string {
	switch {
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && readline.IsTerminal(int(f.Fd()))
}
