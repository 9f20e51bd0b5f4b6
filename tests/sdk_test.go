package tests

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/errs"
	demopb "github.com/iogo-dev/iogo/proto/demo"
	loginpb "github.com/iogo-dev/iogo/proto/login"
	"github.com/iogo-dev/iogo/sdk/go/demoapi"
	"github.com/iogo-dev/iogo/sdk/go/loginapi"
	"google.golang.org/protobuf/types/known/emptypb"
)

// TestTypeScriptSDK installs the TypeScript toolchain from npm (npm ci from
// sdk/ts/package-lock.json, into a copy of sdk/ts), checks that the committed SDK in sdk/ts/src is what
// `iogo gen -lang ts` makes now (message code included), compiles it and
// its end-to-end script with tsc --strict, and runs the script with node
// against a live `iogo dev`: login, calls, error codes and a push
// listener. Node and npm are required, not optional.
func TestTypeScriptSDK(t *testing.T) {
	node, errNode := exec.LookPath("node")
	npm, errNPM := exec.LookPath("npm")
	if err := errors.Join(errNode, errNPM); err != nil {
		t.Fatalf("node and npm are required for the TypeScript SDK test: %v", err)
	}
	src, err := filepath.Abs("../sdk/ts")
	if err != nil {
		t.Fatal(err)
	}
	// Work on a copy: concurrent runs must not share node_modules or dist.
	sdk := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json", "tsconfig.json", "src", "test"} {
		copyTree(t, filepath.Join(src, f), filepath.Join(sdk, f))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sh := func(dir, name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	sh(sdk, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")

	gen := t.TempDir()
	sh(sdk, filepath.Join(binDir, "iogo"), "gen", "-lang", "ts", "-out", gen,
		"-protoc-gen-es", filepath.Join(sdk, "node_modules", ".bin", "protoc-gen-es"))
	if stale := diffDirs(t, gen, filepath.Join(src, "src")); len(stale) > 0 {
		t.Fatalf("sdk/ts/src is stale (%s); run `make gen`", strings.Join(stale, ", "))
	}

	sh(sdk, node, filepath.Join(sdk, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json", "--strict")

	dev := startDev(t)
	out := sh(sdk, node, "--experimental-websocket", filepath.Join("dist", "test", "e2e.js"), dev.ws)
	if !strings.Contains(out, "e2e ok") {
		t.Fatalf("e2e script output:\n%s", out)
	}
}

// diffDirs returns the files under want that got lacks or has with other
// content, and the files got has that want lacks.
func diffDirs(t *testing.T, want, got string) []string {
	t.Helper()
	var stale []string
	seen := make(map[string]bool)
	err := filepath.WalkDir(want, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		seen[rel] = true
		a, _ := os.ReadFile(p)
		b, err := os.ReadFile(filepath.Join(got, rel))
		if err != nil || !bytes.Equal(a, b) {
			stale = append(stale, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = filepath.WalkDir(got, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if rel, _ := filepath.Rel(got, p); !seen[rel] {
				stale = append(stale, rel+" (not generated)")
			}
		}
		return nil
	})
	return stale
}

// TestGoSDK calls the bundled services through the generated Go clients
// (sdk/go) on a live `iogo dev`.
func TestGoSDK(t *testing.T) {
	dev := startDev(t)
	ctx := deadline(t)
	c, err := client.Dial(ctx, dev.ws)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	if _, err := loginapi.WhoAmI(ctx, c, &emptypb.Empty{}); !errors.Is(err, errs.ErrLoginRequired) {
		t.Fatalf("whoAmI before login: %v", err)
	}
	if _, err := loginapi.GuestLogin(ctx, c, &loginpb.GuestLogin{}); !errors.Is(err, loginapi.ErrDeviceID) {
		t.Fatalf("login without device: %v", err)
	}
	u, err := loginapi.GuestLogin(ctx, c, &loginpb.GuestLogin{DeviceId: "go-sdk", Nickname: "gopher"})
	if err != nil || u.Nickname != "gopher" {
		t.Fatalf("login: %v %v", u, err)
	}
	tests := []struct {
		name string
		call func() (any, error)
		want any
	}{
		{"hello", func() (any, error) {
			r, err := demoapi.Hello(ctx, c, &demopb.HelloReq{Name: "go"})
			return r.GetText(), err
		}, "hello, go"},
		{"sum", func() (any, error) { return demoapi.Sum(ctx, c, []int64{40, 2}) }, int64(42)},
		{"whoami", func() (any, error) {
			r, err := loginapi.WhoAmI(ctx, c, &emptypb.Empty{})
			return r.GetId(), err
		}, u.Id},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.call()
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if _, err := demoapi.Fail(ctx, c, 77); errs.Code(err) != 77 {
		t.Fatalf("fail: %v", err)
	}
	if _, err := demoapi.Chat(ctx, c, &demopb.EchoMsg{Text: "go line"}); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case m := <-c.Pushes():
			v, ok, err := demoapi.DecodeEchoMsg(c, m)
			if err != nil {
				t.Fatal(err)
			}
			if ok && v.Text == "go line" {
				return
			}
		case <-ctx.Done():
			t.Fatal("no chat push")
		}
	}
}

// TestGenSources runs `iogo gen` on the other two sources of route tables:
// the service binaries (-binary, which run with -dump-routes and need no
// broker) must yield exactly the committed docs, and a live cluster's
// registry (-brokers) the same routes, pushes and messages.
func TestGenSources(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	iogo := filepath.Join(binDir, "iogo")
	gen := func(t *testing.T, args ...string) string {
		t.Helper()
		out := t.TempDir()
		cmd := exec.Command(iogo, append([]string{"gen", "-lang", "md", "-out", out, "-source-root", root}, args...)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("iogo gen %v: %v\n%s", args, err, b)
		}
		return out
	}
	t.Run("binary", func(t *testing.T) {
		var bins []string
		for _, bin := range bundled {
			bins = append(bins, filepath.Join(binDir, bin))
		}
		out := gen(t, "-binary", strings.Join(bins, ","))
		if stale := diffDirs(t, out, filepath.Join(root, "docs", "api")); len(stale) > 0 {
			t.Fatalf("docs from binaries differ from docs/api: %s", strings.Join(stale, ", "))
		}
	})
	t.Run("brokers", func(t *testing.T) {
		b := startProc(t, "broker", "broker", "-host", "127.0.0.1", "-port", "-1", "-store", t.TempDir())
		for _, bin := range bundled {
			startProc(t, bin, "logic", "-brokers", b.ready["nats"])
		}
		out := gen(t, "-brokers", b.ready["nats"])
		tests := []struct{ file, want string }{
			{"login.md", "| `1-0` | public | `iogo.login.GuestLogin` | `iogo.login.User` |"},
			{"login.md", "### `iogo.login.User`"},
			{"demo.md", "| `2-5` | `iogo.demo.EchoMsg` | A chat line someone broadcast with 2-4. |"},
			{"demo.md", "| `2-4` | public | `iogo.demo.EchoMsg` | — (void) |"},
			{"README.md", "| -1004 | LoginRequired | login required |"},
		}
		for _, tt := range tests {
			b, err := os.ReadFile(filepath.Join(out, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tt.want) {
				t.Errorf("%s lacks %q:\n%s", tt.file, tt.want, b)
			}
		}
	})
}

// TestCSharpSDK checks that the committed C# SDK in sdk/csharp/Iogo is what
// `iogo gen -lang cs` makes now, compiles it with its end-to-end program
// using mcs (Debian mono-mcs, installed with apt-get when missing), and runs
// the program under mono against a live `iogo dev` over TCP.
func TestCSharpSDK(t *testing.T) {
	if _, err := exec.LookPath("mcs"); err != nil {
		aptInstall(t, "mono-mcs", "mono-runtime")
	}
	sdk, err := filepath.Abs("../sdk/csharp")
	if err != nil {
		t.Fatal(err)
	}
	gen := t.TempDir()
	if out, err := exec.Command(filepath.Join(binDir, "iogo"), "gen", "-lang", "cs", "-out", gen).CombinedOutput(); err != nil {
		t.Fatalf("iogo gen: %v\n%s", err, out)
	}
	if stale := diffDirs(t, gen, filepath.Join(sdk, "Iogo")); len(stale) > 0 {
		t.Fatalf("sdk/csharp/Iogo is stale (%s); run `make gen`", strings.Join(stale, ", "))
	}
	exe := filepath.Join(t.TempDir(), "e2e.exe")
	srcs, _ := filepath.Glob(filepath.Join(sdk, "Iogo", "*.cs"))
	args := append([]string{"-warnaserror", "-out:" + exe}, append(srcs, filepath.Join(sdk, "test", "E2E.cs"))...)
	if out, err := exec.Command("mcs", args...).CombinedOutput(); err != nil {
		t.Fatalf("mcs: %v\n%s", err, out)
	}
	dev := startDev(t)
	host, port, ok := strings.Cut(strings.TrimPrefix(dev.tcp, "tcp://"), ":")
	if !ok {
		t.Fatalf("tcp address %q", dev.tcp)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "mono", exe, host, port).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "e2e ok") {
		t.Fatalf("mono e2e.exe: %v\n%s", err, out)
	}
}

// copyTree copies a file or a directory tree.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
