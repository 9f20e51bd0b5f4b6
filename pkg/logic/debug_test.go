package logic_test

import (
	"bytes"
	"flag"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
	demopb "github.com/iogo-dev/iogo/proto/demo"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/protobuf/proto"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// The handlers of the debug block test; their source lines are checked.

func debugHello(_ *logic.Ctx, req *demopb.HelloReq) (*demopb.HelloResp, error) { // debug:hello
	return &demopb.HelloResp{Text: "hello " + req.Name}, nil
}

func debugFail(_ *logic.Ctx, _ *demopb.HelloReq) (*demopb.HelloResp, error) { // debug:fail
	return nil, errNoGold
}

func debugVoid(_ *logic.Ctx, _ int64) error { return nil } // debug:void

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// stepClock advances 1.5 ms at every reading.
func stepClock() func() time.Time {
	var n atomic.Int64
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time { return base.Add(time.Duration(n.Add(1)) * 1500 * time.Microsecond) }
}

func debugRouter() *route.Router {
	r := route.NewRouter()
	g := r.Group(7)
	route.Handle(g, 1, debugHello)
	route.Handle(g, 2, debugFail)
	route.HandleVoid(g, 3, debugVoid)
	return r
}

// debugRequests sends one request to each route of debugRouter, in order,
// and waits for each answer.
func debugRequests(t *testing.T, gw *gate) {
	t.Helper()
	hello, _ := proto.Marshal(&demopb.HelloReq{Name: "ann"})
	for i, rq := range []struct {
		sub  int32
		data []byte
	}{{1, hello}, {2, hello}, {3, int64Payload(t, 9)}} {
		gw.send(uint64(i+1), fabric.Meta{Cmd: 7, Sub: rq.sub, UserID: 42, Session: 5, MsgID: int32(10 + i),
			Attrs: "ip=203.0.113.7&room=1"}, rq.data)
		if _, r, _ := gw.next(); r.Status != 0 && rq.sub != 2 {
			t.Fatalf("route 7-%d: status %d %s", rq.sub, r.Status, r.Error)
		}
	}
}

// normalize replaces what varies between machines and runs: the source
// directory, line numbers and trace IDs.
func normalize(t *testing.T, s string) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	s = strings.ReplaceAll(s, dir+string(os.PathSeparator), "<dir>/")
	s = regexp.MustCompile(`(\.go):\d+\)`).ReplaceAllString(s, "$1:<line>)")
	return regexp.MustCompile(`trace: [0-9a-f]{32}`).ReplaceAllString(s, "trace: <trace-id>")
}

// TestDebugBlock checks the debug block against testdata/debug.golden
// (go test -run TestDebugBlock -update rewrites it).
func TestDebugBlock(t *testing.T) {
	b := startNATS(t)
	var out lockedBuffer
	tp := sdktrace.NewTracerProvider() // IDs only: no exporter
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	startLogic(t, b, debugRouter(), withService("dbg"), withInstance("dbg-1"), func(c *logic.Config) {
		c.Debug = &logic.DebugConfig{Writer: &out, Now: stepClock()}
		c.TracerProvider = tp
	})
	debugRequests(t, newGate(t, b))
	got := normalize(t, out.String())
	const golden = "testdata/debug.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("debug blocks differ from %s:\n--- got\n%s--- want\n%s", golden, got, want)
	}
}

// TestDebugSource checks that the file:line of each block is the line
// where the handler is declared.
func TestDebugSource(t *testing.T) {
	b := startNATS(t)
	var out lockedBuffer
	startLogic(t, b, debugRouter(), withService("dbg"), withInstance("dbg-1"), func(c *logic.Config) {
		c.Debug = &logic.DebugConfig{Writer: &out}
	})
	debugRequests(t, newGate(t, b))
	heads := regexp.MustCompile(`┏━━ iogo debug ━━ \S+\.(debug\w+) \((\S+):(\d+)\)`).FindAllStringSubmatch(out.String(), -1)
	if len(heads) != 3 {
		t.Fatalf("%d blocks:\n%s", len(heads), out.String())
	}
	for _, h := range heads {
		fn, file, line := h[1], h[2], h[3]
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(line)
		lines := strings.Split(string(src), "\n")
		if n < 1 || n > len(lines) {
			t.Fatalf("%s: line %d out of range", file, n)
		}
		marker := "// debug:" + strings.ToLower(strings.TrimPrefix(fn, "debug"))
		// The line is the declaration, or, for a leaf function the compiler
		// gave no prologue, its first statement: either points into the
		// handler.
		decl := func(l string) bool { return strings.Contains(l, "func "+fn+"(") && strings.Contains(l, marker) }
		if l := lines[n-1]; !decl(l) && (n < 2 || !decl(lines[n-2])) {
			t.Errorf("%s:%d is %q, want the declaration of %s or its first line", file, n, l, fn)
		}
	}
}

// TestDebugThreshold prints only requests at least as slow as the
// threshold (the step clock makes every request take 1.5 ms).
func TestDebugThreshold(t *testing.T) {
	b := startNATS(t)
	for _, tt := range []struct {
		name      string
		threshold time.Duration
		blocks    int
	}{
		{"every request", 0, 3},
		{"below", time.Millisecond, 3},
		{"above", 2 * time.Millisecond, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out lockedBuffer
			startLogic(t, b, debugRouter(), withService("dbg"), func(c *logic.Config) {
				c.Debug = &logic.DebugConfig{Writer: &out, Now: stepClock(), Threshold: tt.threshold}
			})
			debugRequests(t, newGate(t, b))
			if n := strings.Count(out.String(), "┏━━"); n != tt.blocks {
				t.Errorf("%d blocks, want %d:\n%s", n, tt.blocks, out.String())
			}
		})
	}
}
