package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/sim"
)

// devUp runs `iogo dev` in-process on random ports (broker in-process
// only) until the test ends and returns the key=value pairs of its ready
// line.
func devUp(t *testing.T, extra ...string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	exited := make(chan int, 1)
	args := append([]string{"dev", "-ws", "127.0.0.1:0", "-tcp", "127.0.0.1:0", "-nats", "", "-log-level", "error"}, extra...)
	go func() {
		exited <- run(ctx, args, none, pw, io.Discard)
		pw.Close()
	}()
	ready := make(chan map[string]string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "iogo dev ready"); ok {
				ready <- parseReady(rest)
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			t.Error("iogo dev did not stop")
		}
		pr.Close()
	})
	select {
	case kv := <-ready:
		waitServed(t, kv["ws"])
		return kv
	case code := <-exited:
		t.Fatalf("iogo dev exited with %d", code)
	case <-time.After(10 * time.Second):
		t.Fatal("iogo dev not ready")
	}
	return nil
}

// waitServed polls until the gate at url serves routes 1-1 and 2-1 (any
// answer but route-not-found): the dev ready line may come before the
// gate's route view has caught up with the logic services.
func waitServed(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, r := range [][2]int32{{1, 1}, {2, 1}} {
		for {
			resp, err := c.Request(ctx, r[0], r[1], nil)
			if err != nil {
				t.Fatalf("route %d-%d not served: %v", r[0], r[1], err)
			}
			if resp.Status != errs.CodeRouteNotFound {
				break
			}
			time.Sleep(10 * time.Millisecond) // poll step, bounded by ctx
		}
	}
}

func parseReady(s string) map[string]string {
	kv := make(map[string]string)
	for _, f := range strings.Fields(s) {
		if k, v, ok := strings.Cut(f, "="); ok {
			kv[k] = v
		}
	}
	return kv
}

func TestSimCommand(t *testing.T) {
	urls := devUp(t)
	plot := filepath.Join(t.TempDir(), "p.html")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"sim", "-url", urls["tcp"], "-players", "4", "-iterations", "25",
		"-rate", "200", "-ramp", "0", "-json", "-plot", plot, "-interval", "100ms"}, none, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	var rep sim.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 100 || rep.Errors != 0 {
		t.Fatalf("requests %d errors %d %v", rep.Requests, rep.Errors, rep.ErrorSamples)
	}
	if fi, err := os.Stat(plot); err != nil || fi.Size() == 0 {
		t.Fatalf("plot: %v", err)
	}
	if !strings.Contains(stderr.String(), "plot written to") {
		t.Fatalf("stderr: %s", stderr.String())
	}

	// Text output, and exit 1 when requests fail: here every dial fails.
	stdout.Reset()
	code = run(context.Background(), []string{"sim", "-url", "tcp://127.0.0.1:1", "-players", "2", "-iterations", "1", "-quiet"}, none, &stdout, io.Discard)
	if code != 1 || !strings.Contains(stdout.String(), "dial") {
		t.Fatalf("exit %d, output:\n%s", code, stdout.String())
	}
}

func TestSimFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantErr  bool
		duration time.Duration
	}{
		{"defaults", nil, nil, false, sim.DefaultDuration},
		{"count bound drops the default duration", []string{"-n", "100"}, nil, false, 0},
		{"iterations bound drops the default duration", []string{"-iterations", "3"}, nil, false, 0},
		{"explicit duration stays", []string{"-n", "100", "-duration", "5s"}, nil, false, 5 * time.Second},
		{"duration from env stays", []string{"-n", "100"}, map[string]string{"IOGO_SIM_DURATION": "7s"}, false, 7 * time.Second},
		{"no players", []string{"-players", "0"}, nil, true, 0},
		{"stray argument", []string{"x"}, nil, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			s, err := parseSimArgs(tt.args, env, io.Discard)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v", err)
			}
			if err == nil && s.cfg.Duration != tt.duration {
				t.Fatalf("duration %v, want %v", s.cfg.Duration, tt.duration)
			}
		})
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"sim", "-list"}, none, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "echo") {
		t.Fatalf("-list: %d %q", code, out.String())
	}
	if code := run(context.Background(), []string{"sim", "-scenario", "nope"}, none, io.Discard, io.Discard); code != 2 {
		t.Fatalf("unknown scenario: exit %d", code)
	}
	if code := run(context.Background(), []string{"sim", "-h"}, none, io.Discard, io.Discard); code != 0 {
		t.Fatalf("-h: exit %d", code)
	}
}

func TestProgressLine(t *testing.T) {
	var b bytes.Buffer
	p := newProgressLine(&b, time.Second) // a buffer is no terminal: plain lines every 5 s
	for i := range 10 {
		p.update(sim.Progress{Elapsed: time.Duration(i+1) * time.Second, Done: float64(i+1) / 10, Players: 10, Connected: 10, Requests: int64(i * 100), RPS: 100, P99: 3 * time.Millisecond})
	}
	p.finish()
	p.update(sim.Progress{}) // after finish: ignored
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "5.0s") || !strings.Contains(lines[1], "players 10/10") || strings.Contains(b.String(), "\r") {
		t.Fatalf("plain progress:\n%s", b.String())
	}

	b.Reset()
	p = &progressLine{w: &b, tty: true, every: 1}
	p.update(sim.Progress{Elapsed: time.Second, Done: 0.5, Players: 2, Connected: 2})
	p.finish()
	if s := b.String(); !strings.HasPrefix(s, "\r\x1b[K[##########..........]  50% ") || !strings.HasSuffix(s, "\n") {
		t.Fatalf("terminal progress: %q", s)
	}
	var nilLine *progressLine
	nilLine.finish() // nil-safe
}
