package tests

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// binDir holds the binaries built once by TestMain.
var binDir string

// bundled are the binaries of the logic services `iogo dev` runs, in its
// order.
var bundled = []string{"logic-login", "logic-demo", "logic-guild"}

// binaries maps a binary name to the package it is built from.
var binaries = map[string]string{
	"broker":      "github.com/iogo-dev/iogo/services/broker",
	"external":    "github.com/iogo-dev/iogo/services/external",
	"logic-login": "github.com/iogo-dev/iogo/services/logic-login",
	"logic-demo":  "github.com/iogo-dev/iogo/services/logic-demo",
	"logic-guild": "github.com/iogo-dev/iogo/services/logic-guild",
	"iogo":        "github.com/iogo-dev/iogo/cmd/iogo",
	"testsvc":     "github.com/iogo-dev/iogo/tests/testsvc",
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "iogo-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	args := []string{"build", "-o", dir + "/"}
	for _, pkg := range binaries {
		args = append(args, pkg)
	}
	cmd := exec.Command("go", args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building binaries:", err)
		return 1
	}
	code := m.Run()
	if code == 0 {
		// kcp-go starts its timer goroutines at package init; pkg/client
		// (TestGoSDK) links it in.
		if err := goleak.Find(
			goleak.IgnoreAnyFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).sched"),
			goleak.IgnoreAnyFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).prepend"),
		); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			return 1
		}
	}
	return code
}

// proc is a service running as a separate OS process.
type proc struct {
	name string
	args []string
	cmd  *exec.Cmd
	// readyCh delivers the ready line's pairs, or is closed without one
	// when stdout ends first.
	readyCh chan map[string]string
	ready   map[string]string // key=value pairs of its ready line
	mu      sync.Mutex
	output  bytes.Buffer // stdout after the ready line, and stderr
	exited  chan struct{}
}

// startProc runs a built binary and waits for its "iogo <component> ready"
// line on stdout. The process is stopped with SIGTERM when the test ends;
// its output is printed if the test failed.
func startProc(t *testing.T, bin, component string, args ...string) *proc {
	t.Helper()
	p := launch(t, bin, component, args...)
	p.waitReady(t)
	return p
}

// launch runs a built binary like startProc but does not wait for its ready
// line: for processes that become ready only together, such as the nodes
// of a broker cluster. Call waitReady before using p.ready.
func launch(t *testing.T, bin, component string, args ...string) *proc {
	t.Helper()
	p := &proc{name: bin, args: args, cmd: exec.Command(filepath.Join(binDir, bin), args...), exited: make(chan struct{}),
		readyCh: make(chan map[string]string, 1)}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = writerFunc(p.write)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	readyCh := p.readyCh
	go func() {
		sc := bufio.NewScanner(stdout)
		prefix := "iogo " + component + " ready"
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, prefix) {
				readyCh <- parseKV(strings.TrimPrefix(line, prefix))
				continue
			}
			p.write([]byte(line + "\n"))
		}
		close(readyCh)
	}()
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("--- output of %s %v:\n%s", bin, args, p.log())
		}
	})
	return p
}

// waitReady waits for the ready line of a launched process and records its
// key=value pairs in p.ready.
func (p *proc) waitReady(t *testing.T) {
	t.Helper()
	select {
	case kv, ok := <-p.readyCh:
		if !ok {
			<-p.exited
			t.Fatalf("%s exited before it was ready: %v\n%s", p.name, p.cmd.ProcessState, p.log())
		}
		p.ready = kv
	case <-time.After(30 * time.Second):
		t.Fatalf("%s not ready within 30s\n%s", p.name, p.log())
	}
}

// kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// stop sends SIGTERM and waits for a graceful exit; after 15 s it kills.
func (p *proc) stop(t *testing.T) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("%s exited with %d after SIGTERM", p.name, code)
		}
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Errorf("%s ignored SIGTERM for 15s", p.name)
	}
}

func (p *proc) write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.Write(b)
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.String()
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

var _ io.Writer = writerFunc(nil)

func parseKV(s string) map[string]string {
	kv := make(map[string]string)
	for _, f := range strings.Fields(s) {
		if k, v, ok := strings.Cut(f, "="); ok {
			kv[k] = v
		}
	}
	return kv
}

// cluster is the address book of a running deployment.
type cluster struct {
	ws, tcp string
}

// startSplit runs broker, external and the logic services as separate
// processes on random loopback ports.
func startSplit(t *testing.T) cluster {
	t.Helper()
	b := startProc(t, "broker", "broker", "-host", "127.0.0.1", "-port", "-1", "-store", t.TempDir())
	url := b.ready["nats"]
	if url == "" {
		t.Fatalf("broker ready line has no nats URL: %v", b.ready)
	}
	// Logic servers first, so that the routes exist when clients arrive.
	for _, bin := range bundled {
		startProc(t, bin, "logic", "-brokers", url)
	}
	ext := startProc(t, "external", "external", "-brokers", url, "-ws", "127.0.0.1:0", "-tcp", "127.0.0.1:0")
	return cluster{ws: ext.ready["ws"], tcp: ext.ready["tcp"]}
}

// startDev runs `iogo dev` as one process on random ports.
func startDev(t *testing.T) cluster {
	t.Helper()
	d := startProc(t, "iogo", "dev", "dev", "-ws", "127.0.0.1:0", "-tcp", "127.0.0.1:0", "-nats", "127.0.0.1:0")
	return cluster{ws: d.ready["ws"], tcp: d.ready["tcp"]}
}

// deadline returns a context for one test step.
func deadline(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// aptInstall installs Debian packages a test needs and fails the test when
// that is not possible: a missing tool is a broken machine, never a reason
// to skip. On a fresh machine the package lists may be empty, so a failed
// install is retried after apt-get update.
func aptInstall(t *testing.T, pkgs ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	run := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	install := append([]string{"install", "-y", "--no-install-recommends"}, pkgs...)
	if _, err := run(install...); err == nil {
		return
	}
	if out, err := run("update"); err != nil {
		t.Fatalf("apt-get update: %v\n%s", err, out)
	}
	if out, err := run(install...); err != nil {
		t.Fatalf("apt-get install %v: %v\n%s", pkgs, err, out)
	}
}
