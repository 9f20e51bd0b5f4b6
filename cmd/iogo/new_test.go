package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		name, in, pkg string
		ok            bool
	}{
		{"plain", "shop", "shop", true},
		{"dash and digit", "my-shop2", "myshop2", true},
		{"empty", "", "", false},
		{"upper", "Shop", "", false},
		{"leading digit", "2shop", "", false},
		{"leading dash", "-shop", "", false},
		{"trailing dash", "shop-", "", false},
		{"double dash", "my--shop", "", false},
		{"underscore", "my_shop", "", false},
		{"dot", "my.shop", "", false},
		{"keyword", "func", "", false},
		{"clashes with an import", "logic", "", false},
		{"too long", strings.Repeat("a", 33), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkg, err := checkName(tt.in)
			if (err == nil) != tt.ok || pkg != tt.pkg {
				t.Fatalf("checkName(%q) = %q, %v; want %q, ok %v", tt.in, pkg, err, tt.pkg, tt.ok)
			}
		})
	}
}

// repoRoot is the repository this test runs in.
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := findRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// The committed services_gen.go is what the generator writes for its list.
func TestServicesGenUpToDate(t *testing.T) {
	root := repoRoot(t)
	file := filepath.Join(root, servicesGen)
	entries, err := readServicesGen(file)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Pkg)
	}
	if len(names) < 2 || names[0] != "login" || names[1] != "demo" {
		t.Fatalf("services %v, want login, demo first", names)
	}
	out := filepath.Join(t.TempDir(), "services_gen.go")
	if err := writeServicesGen(out, entries); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(file)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the generator's output:\n%s", servicesGen, got)
	}
}

func TestNewUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"no kind", []string{"new"}, 2},
		{"other kind", []string{"new", "gate", "x"}, 2},
		{"no name", []string{"new", "service"}, 2},
		{"two names", []string{"new", "service", "a", "b"}, 2},
		{"help", []string{"new", "service", "-h"}, 0},
		{"bad cmd", []string{"new", "service", "-cmd", "-3", "x"}, 2},
		{"bad name", []string{"new", "service", "-root", t.TempDir(), "Bad"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code := run(context.Background(), tt.args, none, io.Discard, io.Discard); code != tt.code {
				t.Fatalf("exit %d, want %d", code, tt.code)
			}
		})
	}
}

// tempRepo makes a repository to scaffold into: go.work and cmd/iogo
// copied (iogo new edits them), every other module of go.work a symlink
// to the real one.
func tempRepo(t *testing.T, root string) string {
	t.Helper()
	tmp := t.TempDir()
	work, err := readWork(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"go.work", "go.work.sum"} {
		copyFile(t, filepath.Join(root, f), filepath.Join(tmp, f))
	}
	for _, u := range work.Use {
		rel := filepath.Clean(u.DiskPath)
		if rel == filepath.Join("cmd", "iogo") {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(tmp, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(root, rel), filepath.Join(tmp, rel)); err != nil {
			t.Fatal(err)
		}
	}
	src := filepath.Join(root, "cmd", "iogo")
	err = filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		dst := filepath.Join(tmp, "cmd", "iogo", rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		copyFile(t, p, dst)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tmp
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// goIn runs the go command in dir and fails the test on error.
func goIn(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
}

// TestNewService scaffolds a service into a copy of the repository, then
// vets and tests it, and vets cmd/iogo with the service registered.
func TestNewService(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and tests a module")
	}
	root := repoRoot(t)
	tmp := tempRepo(t, root)
	work, err := readWork(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	used, err := usedCmds(root, work)
	if err != nil {
		t.Fatal(err)
	}
	if used[1] == "" || used[2] == "" {
		t.Fatalf("used cmds %v: want login's 1 and demo's 2", used)
	}
	want := freeCmd(used)
	// Only the module cache: the test needs no network. With the proxy
	// off, go would look go.sum lines up at sum.golang.org itself (not
	// through the proxy), which a closed network cannot reach; the cache's
	// modules were verified when they were downloaded.
	t.Setenv("GOPROXY", "off")
	t.Setenv("GOSUMDB", "off")
	t.Setenv("GOFLAGS", "")

	var out bytes.Buffer
	code := run(context.Background(), []string{"new", "service", "-root", tmp, "shop-2"}, none, &out, &out)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	dir := filepath.Join(tmp, "services", "logic-shop-2")
	src, err := os.ReadFile(filepath.Join(dir, "shop2", "shop2.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), "const Cmd int32 = "+strconv.Itoa(int(want))+"\n") {
		t.Fatalf("cmd %d not in\n%s", want, src)
	}
	checks := []struct{ file, want string }{
		{"go.work", "./services/logic-shop-2"},
		{"cmd/iogo/go.mod", "github.com/iogo-dev/iogo/services/logic-shop-2 v0.0.0"},
		{"cmd/iogo/go.mod", "github.com/iogo-dev/iogo/services/logic-shop-2 => ../../services/logic-shop-2"},
		{"cmd/iogo/services_gen.go", "{name: shop2.Service, routes: routesOf(shop2.Router)},\n\t}"},
		{"services/logic-shop-2/go.mod", "module github.com/iogo-dev/iogo/services/logic-shop-2"},
		{"services/logic-shop-2/README.md", "cmd " + strconv.Itoa(int(want))},
	}
	for _, c := range checks {
		b, err := os.ReadFile(filepath.Join(tmp, c.file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), c.want) {
			t.Errorf("%s lacks %q:\n%s", c.file, c.want, b)
		}
	}
	goIn(t, dir, "vet", "./...")
	goIn(t, dir, "test", "-count=1", "./...")
	goIn(t, filepath.Join(tmp, "cmd", "iogo"), "vet", ".")

	// Neither an existing folder nor a used cmd is taken.
	refused := []struct {
		name string
		args []string
		want string
	}{
		{"exists", []string{"shop-2"}, "exists"},
		{"cmd used", []string{"-cmd", strconv.Itoa(int(want)), "shop-3"}, "is used by services/logic-shop-2/shop2/shop2.go"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			var errOut bytes.Buffer
			args := append([]string{"new", "service", "-root", tmp, "-no-tidy"}, tt.args...)
			if code := run(context.Background(), args, none, io.Discard, &errOut); code != 1 || !strings.Contains(errOut.String(), tt.want) {
				t.Fatalf("exit %d, %q; want 1 and %q", code, errOut.String(), tt.want)
			}
		})
	}
}
