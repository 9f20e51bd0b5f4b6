// Command e2e is the end-to-end half of `make bench`. It builds the
// binaries, then, on this machine and in one run:
//
//   - times `iogo dev` from exec to its ready line (and its own startup=);
//   - runs `iogo sim` with the same scenario and connection count against
//     a raw WebSocket echo baseline (bench/echo), `iogo dev`, and a split
//     deployment (separate broker, logic and external processes), and
//     prints each figure as a ratio of the baseline's;
//   - opens many idle WebSocket connections to the gate of the split
//     deployment and to the baseline and reads their RSS from /proc.
//
// Every server listens on 127.0.0.1 with a random port; every process is
// stopped with SIGTERM before the next run starts.
//
//	go run ./bench/e2e -players 1000 -duration 12s -idle 10000
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/sim"
)

// options are the command line.
type options struct {
	players    string
	duration   time.Duration
	ramp       time.Duration
	scenario   string
	payload    int
	idle       int
	readyRuns  int
	out        string
	bin        string
	skipBuild  bool
	targetsArg string
}

func main() {
	var o options
	flag.StringVar(&o.players, "players", "1000", "comma-separated connection counts, one run per target each")
	flag.DurationVar(&o.duration, "duration", 12*time.Second, "length of each sim run, ramp-up included")
	flag.DurationVar(&o.ramp, "ramp", 2*time.Second, "ramp-up of each sim run")
	flag.StringVar(&o.scenario, "scenario", "echo", "sim scenario (the baseline answers echo only)")
	flag.IntVar(&o.payload, "payload", 32, "echo payload bytes")
	flag.IntVar(&o.idle, "idle", 10000, "idle WebSocket connections for the RSS measurement; 0 skips it")
	flag.IntVar(&o.readyRuns, "ready-runs", 5, "times `iogo dev` is started to time its start-up")
	flag.StringVar(&o.out, "out", "", "also write the results as JSON to this file")
	flag.StringVar(&o.bin, "bin", "", "directory of already built binaries (default: build into a temporary directory)")
	flag.StringVar(&o.targetsArg, "targets", "echo,dev,split", "targets to load, in order")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// results is everything one bench run measured.
type results struct {
	Date       string         `json:"date"`
	Machine    string         `json:"machine"`
	Go         string         `json:"go"`
	DevReadyMS []float64      `json:"dev_ready_ms"`
	DevStartMS []float64      `json:"dev_startup_ms"`
	Runs       []runResult    `json:"runs"`
	Idle       []idleResult   `json:"idle,omitempty"`
	Seconds    float64        `json:"seconds"`
	Notes      map[string]any `json:"notes,omitempty"`
}

type runResult struct {
	Target  string `json:"target"`
	Players int    `json:"players"`
	// ServerCPU and SimCPU are the CPU seconds the server processes and the
	// simulator used during the run.
	ServerCPU float64     `json:"server_cpu_s"`
	SimCPU    float64     `json:"sim_cpu_s"`
	Report    *sim.Report `json:"report"`
}

type idleResult struct {
	Target      string `json:"target"`
	Conns       int    `json:"conns"`
	RSSBeforeKB int64  `json:"rss_before_kb"`
	// RSSOpenKB is read once the connections are open; RSSAfterKB once
	// each has also exchanged one heartbeat, which makes the WebSocket
	// library allocate its buffers.
	RSSOpenKB   int64   `json:"rss_open_kb"`
	RSSAfterKB  int64   `json:"rss_after_kb"`
	PerConnOpen float64 `json:"per_conn_open_kb"`
	PerConnKB   float64 `json:"per_conn_kb"`
	DialSeconds float64 `json:"dial_seconds"`
}

func run(ctx context.Context, o options) error {
	began := time.Now()
	root, err := repoRoot()
	if err != nil {
		return err
	}
	if o.bin == "" {
		dir, err := os.MkdirTemp("", "iogo-bench-bin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.bin = dir
		logf("building binaries into %s", dir)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+"/",
			"./cmd/iogo", "./services/broker", "./services/external", "./services/logic-login",
			"./services/logic-demo", "./bench/echo")
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build: %w", err)
		}
	}
	b := &bench{o: o, res: results{Date: time.Now().UTC().Format(time.RFC3339), Machine: machine(), Go: runtime.Version()}}

	// Start-up time of iogo dev.
	for i := range o.readyRuns {
		wall, startup, err := b.devReady(ctx)
		if err != nil {
			return fmt.Errorf("iogo dev start %d: %w", i+1, err)
		}
		b.res.DevReadyMS = append(b.res.DevReadyMS, ms(wall))
		if startup > 0 {
			b.res.DevStartMS = append(b.res.DevStartMS, ms(startup))
		}
	}
	logf("iogo dev ready: exec to ready line %s ms, startup= %s ms", fmtList(b.res.DevReadyMS), fmtList(b.res.DevStartMS))

	// Throughput and latency.
	var players []int
	for _, p := range strings.Split(o.players, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n <= 0 {
			return fmt.Errorf("-players %q: bad count %q", o.players, p)
		}
		players = append(players, n)
	}
	targets := strings.Split(o.targetsArg, ",")
	for _, n := range players {
		for _, t := range targets {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r, err := b.load(ctx, strings.TrimSpace(t), n)
			if err != nil {
				return fmt.Errorf("%s at %d players: %w", t, n, err)
			}
			b.res.Runs = append(b.res.Runs, *r)
		}
	}

	// Idle RSS per WebSocket connection.
	if o.idle > 0 {
		for _, t := range []string{"split", "echo"} {
			r, err := b.idleRSS(ctx, t, o.idle)
			if err != nil {
				logf("idle RSS on %s: %v", t, err)
				continue
			}
			b.res.Idle = append(b.res.Idle, *r)
		}
	}
	b.res.Seconds = time.Since(began).Seconds()
	b.print(os.Stdout)
	if o.out != "" {
		f, err := os.Create(o.out)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(f)
		enc.SetIndent("", "  ")
		if err := enc.Encode(b.res); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	return nil
}

type bench struct {
	o   options
	res results
}

// proc is a running server process.
type proc struct {
	name   string
	cmd    *exec.Cmd
	ready  map[string]string
	readyT time.Duration // exec to ready line
	mu     sync.Mutex
	log    bytes.Buffer
	exited chan struct{}
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// start runs a binary and waits for its "iogo <component> ready" line.
func (b *bench) start(ctx context.Context, bin, component string, args ...string) (*proc, error) {
	p := &proc{name: bin, cmd: exec.Command(filepath.Join(b.o.bin, bin), args...), exited: make(chan struct{})}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.cmd.Stderr = p
	began := time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	readyc := make(chan map[string]string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		prefix := "iogo " + component + " ready"
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				kv := make(map[string]string)
				for _, f := range strings.Fields(rest) {
					if k, v, ok := strings.Cut(f, "="); ok {
						kv[k] = v
					}
				}
				readyc <- kv
				continue
			}
			p.Write([]byte(line + "\n"))
		}
		close(readyc)
	}()
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case kv, ok := <-readyc:
		if !ok {
			<-p.exited
			return nil, fmt.Errorf("%s exited before ready: %v\n%s", bin, p.cmd.ProcessState, p.output())
		}
		p.ready, p.readyT = kv, time.Since(began)
		return p, nil
	case <-t.C:
	case <-ctx.Done():
	}
	p.stop()
	return nil, fmt.Errorf("%s not ready in time\n%s", bin, p.output())
}

// stop sends SIGTERM and waits; after 15 s it kills.
func (p *proc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// deployment is a started target: its processes and its WebSocket URL.
type deployment struct {
	procs []*proc
	ws    string
	gate  *proc  // the process holding client connections
	store string // the broker's JetStream directory, removed at stop
}

func (d *deployment) stop() {
	for i := len(d.procs) - 1; i >= 0; i-- {
		d.procs[i].stop()
	}
	if d.store != "" {
		_ = os.RemoveAll(d.store)
	}
}

// helpHas reports whether `bin [sub] -h` lists flag.
func (b *bench) helpHas(flagName string, bin string, sub ...string) bool {
	cmd := exec.Command(filepath.Join(b.o.bin, bin), append(sub, "-h")...)
	out, _ := cmd.CombinedOutput()
	return bytes.Contains(out, []byte("-"+flagName+" "))
}

// deploy starts a target: echo, dev or split.
func (b *bench) deploy(ctx context.Context, target string) (*deployment, error) {
	d := &deployment{}
	add := func(p *proc, err error) (*proc, error) {
		if err == nil {
			d.procs = append(d.procs, p)
		}
		return p, err
	}
	var err error
	switch target {
	case "echo":
		d.gate, err = add(b.start(ctx, "echo", "echo", "-ws", "127.0.0.1:0"))
	case "dev":
		args := []string{"dev", "-ws", "127.0.0.1:0", "-tcp", "", "-nats", "", "-log-level", "warn"}
		if b.helpHas("rate", "iogo", "dev") {
			args = append(args, "-rate", "-1") // measure the path, not the limiter
		}
		if b.helpHas("debug-threshold", "iogo", "dev") { // the -debug flag came with it
			args = append(args, "-debug=false") // measure the path, not the debug printing
		}
		d.gate, err = add(b.start(ctx, "iogo", "dev", args...))
	case "split":
		if d.store, err = os.MkdirTemp("", "iogo-bench-store-"); err != nil {
			break
		}
		var br *proc
		br, err = add(b.start(ctx, "broker", "broker", "-host", "127.0.0.1", "-port", "-1", "-store", d.store, "-log-level", "warn"))
		if err != nil {
			break
		}
		url := br.ready["nats"]
		for _, svc := range []string{"logic-login", "logic-demo"} {
			if _, err = add(b.start(ctx, svc, "logic", "-brokers", url, "-log-level", "warn")); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
		args := []string{"-brokers", url, "-ws", "127.0.0.1:0", "-tcp", "", "-log-level", "warn"}
		if b.helpHas("rate", "external") {
			args = append(args, "-rate", "-1")
		}
		d.gate, err = add(b.start(ctx, "external", "external", args...))
	default:
		err = fmt.Errorf("unknown target %q (want echo, dev or split)", target)
	}
	if err != nil {
		d.stop()
		return nil, err
	}
	d.ws = d.gate.ready["ws"]
	if d.ws == "" {
		d.stop()
		return nil, fmt.Errorf("%s: no ws URL in its ready line", target)
	}
	return d, nil
}

// devReady starts `iogo dev` once and returns the time from exec to its
// ready line and the startup= figure it logs.
func (b *bench) devReady(ctx context.Context) (wall, startup time.Duration, err error) {
	p, err := b.start(ctx, "iogo", "dev", "dev", "-ws", "127.0.0.1:0", "-tcp", "127.0.0.1:0", "-nats", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	wall = p.readyT
	// The "iogo dev ready" log line follows the ready line on stderr.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(p.output(), "startup=") {
		time.Sleep(10 * time.Millisecond)
	}
	p.stop()
	if _, after, ok := strings.Cut(p.output(), "startup="); ok {
		f := strings.Fields(after)
		if len(f) > 0 {
			startup, _ = time.ParseDuration(f[0])
		}
	}
	return wall, startup, nil
}

// load runs the simulator against a fresh deployment of target.
func (b *bench) load(ctx context.Context, target string, players int) (*runResult, error) {
	d, err := b.deploy(ctx, target)
	if err != nil {
		return nil, err
	}
	defer d.stop()
	cpu0 := d.cpu()
	logf("%-5s %5d players: sim -duration %s against %s", target, players, b.o.duration, d.ws)
	cmd := exec.CommandContext(ctx, filepath.Join(b.o.bin, "iogo"), "sim",
		"-url", d.ws, "-scenario", b.o.scenario, "-payload", fmt.Sprint(b.o.payload),
		"-players", fmt.Sprint(players), "-ramp", b.o.ramp.String(), "-duration", b.o.duration.String(),
		"-timeout", "10s", "-json")
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
	err = cmd.Run()
	cpu1 := d.cpu()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) { // 1: some requests failed
		return nil, fmt.Errorf("iogo sim: %w", err)
	}
	var rep sim.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		return nil, fmt.Errorf("iogo sim output: %w", err)
	}
	r := &runResult{Target: target, Players: players, ServerCPU: cpu1 - cpu0, Report: &rep}
	if ps := cmd.ProcessState; ps != nil {
		r.SimCPU = (ps.UserTime() + ps.SystemTime()).Seconds()
	}
	logf("%-5s %5d players: %.0f req/s steady, p50 %.2f ms, p99 %.2f ms, %d errors %v",
		target, players, rep.SteadyRPS, rep.SteadyLatency.P50MS, rep.SteadyLatency.P99MS, rep.Errors, rep.ErrorsByCode)
	return r, nil
}

// cpu returns the CPU seconds used so far by the deployment's processes.
func (d *deployment) cpu() float64 {
	var s float64
	for _, p := range d.procs {
		s += procCPU(p.cmd.Process.Pid)
	}
	return s
}

// idleRSS opens n idle WebSocket connections to target's gate and
// returns the growth of the gate's resident set per connection.
func (b *bench) idleRSS(ctx context.Context, target string, n int) (*idleResult, error) {
	d, err := b.deploy(ctx, target)
	if err != nil {
		return nil, err
	}
	defer d.stop()
	pid := d.gate.cmd.Process.Pid
	before := settledRSS(pid)
	logf("idle: %d WebSocket connections to %s (%s)", n, target, d.gate.name)
	began := time.Now()
	conns := make([]*client.Client, n)
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	sem := make(chan struct{}, 100)
	for i := range conns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			c, err := client.Dial(dctx, d.ws, client.WithPushBuffer(1))
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
				return
			}
			conns[i] = c
		})
	}
	wg.Wait()
	dial := time.Since(began)
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	if f := failed.Load(); f > 0 {
		return nil, fmt.Errorf("%d of %d connections failed: %v", f, n, firstErr.Load())
	}
	open := settledRSS(pid)
	// One heartbeat per connection proves each session is fully set up on
	// the server before the RSS is read.
	for i, c := range conns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := c.Heartbeat(hctx); err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, fmt.Errorf("heartbeat %d: %w", i, err))
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		return nil, fmt.Errorf("%d heartbeats failed: %v", f, firstErr.Load())
	}
	after := settledRSS(pid)
	r := &idleResult{Target: target, Conns: n, RSSBeforeKB: before, RSSOpenKB: open, RSSAfterKB: after,
		PerConnOpen: float64(open-before) / float64(n), PerConnKB: float64(after-before) / float64(n), DialSeconds: dial.Seconds()}
	logf("idle: %s RSS %d → %d KB open (%.1f KB per connection) → %d KB after a heartbeat each (%.1f KB per connection)",
		target, before, open, r.PerConnOpen, after, r.PerConnKB)
	return r, nil
}

// settledRSS reads VmRSS until two reads 500 ms apart agree within 1%
// (at most 10 s).
func settledRSS(pid int) int64 {
	last := procRSS(pid)
	for range 20 {
		time.Sleep(500 * time.Millisecond)
		cur := procRSS(pid)
		if diff := cur - last; diff*100 <= last && -diff*100 <= last {
			return cur
		}
		last = cur
	}
	return last
}

// procRSS returns VmRSS of a process in KB, 0 if unreadable.
func procRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// procCPU returns the user+system CPU seconds of a process.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64) // utime, field 14
	st, _ := strconv.ParseFloat(f[12], 64) // stime, field 15
	const clkTck = 100                     // USER_HZ on Linux
	return (ut + st) / clkTck
}

func (b *bench) print(w io.Writer) {
	fmt.Fprintf(w, "\n== iogo end-to-end benchmark, %s\n", b.res.Date)
	fmt.Fprintf(w, "machine: %s, %s\n", b.res.Machine, b.res.Go)
	fmt.Fprintf(w, "scenario %s (%d-byte payload), ramp-up %s, %s per run, client on the same machine;\n"+
		"req/s and latencies from the end of the ramp-up to the end of the run\n\n",
		b.o.scenario, b.o.payload, b.o.ramp, b.o.duration)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tconns\treq/s\tvs echo\tp50 ms\tp90 ms\tp99 ms\tp99 vs echo\tp99.9 ms\terrors\tserver CPU s\tsim CPU s\t")
	flagged, ramp := false, false
	base := map[int]*sim.Report{}
	for _, r := range b.res.Runs {
		if r.Target == "echo" {
			base[r.Players] = r.Report
		}
	}
	for _, r := range b.res.Runs {
		rp := r.Report
		ratio, p99ratio := "-", "-"
		l := rp.SteadyLatency
		if e := base[r.Players]; e != nil && e.SteadyRPS > 0 && e.SteadyLatency.P99MS > 0 {
			ratio = fmt.Sprintf("%.2f×", rp.SteadyRPS/e.SteadyRPS)
			p99ratio = fmt.Sprintf("%.2f×", l.P99MS/e.SteadyLatency.P99MS)
		}
		errors := fmt.Sprint(rp.Errors)
		switch {
		case rp.SteadyErrors > 0:
			errors += " (!)"
			flagged = true
		case rp.Errors > 0:
			errors += " (ramp-up)"
			ramp = true
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%.2f\t%.2f\t%.2f\t%s\t%.2f\t%s\t%.1f\t%.1f\t\n", r.Target, r.Players, rp.SteadyRPS, ratio,
			l.P50MS, l.P90MS, l.P99MS, p99ratio, l.P999MS, errors, r.ServerCPU, r.SimCPU)
	}
	tw.Flush()
	if flagged {
		fmt.Fprintln(w, "(!) errors after ramp-up: the rate counts error responses and does not compare; see errors_by_code in -out.")
	}
	if ramp {
		fmt.Fprintln(w, "(ramp-up) errors during ramp-up only (such as the gate's per-connection rate limit while few players share the")
		fmt.Fprintln(w, "          server); the steady rate and the latencies are measured after, without errors.")
	}
	if len(b.res.Idle) > 0 {
		fmt.Fprintln(w)
		for _, r := range b.res.Idle {
			fmt.Fprintf(w, "idle RSS, %s gate, %d connections: %.1f KB per connection once open, %.1f KB after one heartbeat each (RSS %d → %d → %d KB; dialled in %.1f s)\n",
				r.Target, r.Conns, r.PerConnOpen, r.PerConnKB, r.RSSBeforeKB, r.RSSOpenKB, r.RSSAfterKB, r.DialSeconds)
		}
	}
	fmt.Fprintf(w, "\niogo dev ready: exec to ready line median %.0f ms (%s); its own startup= median %.1f ms\n",
		median(b.res.DevReadyMS), fmtList(b.res.DevReadyMS), median(b.res.DevStartMS))
	fmt.Fprintf(w, "bench took %.0f s\n", b.res.Seconds)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func fmtList(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', 1, 64)
	}
	return strings.Join(parts, ", ")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// machine describes the CPU and memory from /proc.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		f := strings.Fields(string(b))
		if len(f) > 1 {
			kb, _ := strconv.ParseFloat(f[1], 64)
			mem = fmt.Sprintf(", %.0f GiB RAM", kb/(1<<20))
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%d × %s%s%s", runtime.NumCPU(), model, mem, kernel)
}

// repoRoot returns the directory of go.work.
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOWORK").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOWORK: %w", err)
	}
	w := strings.TrimSpace(string(out))
	if w == "" || w == "off" {
		return "", errors.New("run from inside the iogo workspace (go.work)")
	}
	return filepath.Dir(w), nil
}
