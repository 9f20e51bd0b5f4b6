package main

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/iogo-dev/iogo/pkg/svcmain"
)

//go:embed newtmpl/*.tmpl
var newTemplates embed.FS

// modulePrefix is the module path prefix of the repository's modules.
const modulePrefix = "github.com/iogo-dev/iogo/"

// servicesGen is the generated list of the services `iogo dev` runs,
// relative to the repository root.
const servicesGen = "cmd/iogo/services_gen.go"

// newOptions configures newService.
type newOptions struct {
	Root   string // repository root (holds go.work)
	Name   string // service name
	Cmd    int32  // route cmd; 0 picks the lowest free one
	NoTidy bool   // skip `go mod tidy` in the new module
	Out    io.Writer
}

// newSpec is what the templates see.
type newSpec struct {
	Name      string // service name, "my-shop"
	Pkg       string // Go package, "myshop"
	Module    string // module path
	Dir       string // folder relative to the root, "services/logic-my-shop"
	Cmd       int32
	EnvPrefix string // "IOGO_MY_SHOP_"
	GoVersion string
}

func runNew(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "service" {
		fmt.Fprintln(stderr, "Usage: iogo new service [-cmd N] [-root DIR] [-no-tidy] NAME")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "help") {
			return svcmain.ExitOK
		}
		return svcmain.ExitUsage
	}
	opts := newOptions{Out: stdout}
	fs := flag.NewFlagSet("new service", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cmd := fs.Int("cmd", 0, "route cmd of the service (default: the lowest one no service in go.work uses)")
	fs.StringVar(&opts.Root, "root", "", "repository root, the folder of go.work (default: found from the working directory up)")
	fs.BoolVar(&opts.NoTidy, "no-tidy", false, "do not run `go mod tidy` in the new module")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: iogo new service [flags] NAME

Scaffolds services/logic-NAME (a module with main.go, package NAME with a
Router and one typed handler, a test that calls it through an in-process
broker, a README), adds it to go.work, requires it in cmd/iogo/go.mod and
lists it in cmd/iogo/services_gen.go so that `+"`iogo dev`"+` runs it.
NAME: lowercase letters, digits and '-', starting with a letter.

`)
		fs.PrintDefaults()
	}
	// Flags may come before or after NAME.
	err := fs.Parse(args[1:])
	var rest []string
	if err == nil && fs.NArg() > 0 {
		opts.Name, rest = fs.Arg(0), fs.Args()[1:]
		err = fs.Parse(rest)
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		return svcmain.ExitOK
	case err != nil:
		return svcmain.ExitUsage
	case opts.Name == "" || fs.NArg() > 0:
		fs.Usage()
		return svcmain.ExitUsage
	case *cmd < 0 || *cmd > 0x7fff:
		fmt.Fprintf(stderr, "iogo new: -cmd %d out of range 1..32767\n", *cmd)
		return svcmain.ExitUsage
	}
	opts.Cmd = int32(*cmd)
	if opts.Root == "" {
		wd, err := os.Getwd()
		if err == nil {
			opts.Root, err = findRoot(wd)
		}
		if err != nil {
			fmt.Fprintf(stderr, "iogo new: %v\n", err)
			return svcmain.ExitError
		}
	}
	if err := newService(ctx, opts); err != nil {
		fmt.Fprintf(stderr, "iogo new: %v\n", err)
		return svcmain.ExitError
	}
	return svcmain.ExitOK
}

// findRoot returns the nearest folder from dir up that holds a go.work.
func findRoot(dir string) (string, error) {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		up := filepath.Dir(d)
		if up == d {
			return "", fmt.Errorf("no go.work in %s or above (use -root)", dir)
		}
		d = up
	}
}

var serviceName = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// reservedPkgs are package names a service cannot take: its main.go, its
// test or services_gen.go import packages of these names.
var reservedPkgs = []string{"broker", "brokertest", "context", "errs", "goleak", "logic", "main",
	"nats", "os", "route", "signal", "flag", "strings", "svcmain", "syscall", "testing"}

// checkName validates a service name and returns its Go package name.
func checkName(name string) (string, error) {
	if len(name) > 32 || !serviceName.MatchString(name) {
		return "", fmt.Errorf("service name %q: want 1..32 lowercase letters, digits and '-', starting with a letter, no '-' at the end or twice in a row", name)
	}
	pkg := strings.ReplaceAll(name, "-", "")
	if token.IsKeyword(pkg) || slices.Contains(reservedPkgs, pkg) {
		return "", fmt.Errorf("service name %q: its package name %q is reserved", name, pkg)
	}
	return pkg, nil
}

// newService scaffolds the service and registers it; see runNew.
func newService(ctx context.Context, opts newOptions) error {
	pkg, err := checkName(opts.Name)
	if err != nil {
		return err
	}
	work, err := readWork(ctx, opts.Root)
	if err != nil {
		return err
	}
	spec := newSpec{
		Name:      opts.Name,
		Pkg:       pkg,
		Module:    modulePrefix + "services/logic-" + opts.Name,
		Dir:       "services/logic-" + opts.Name,
		Cmd:       opts.Cmd,
		EnvPrefix: "IOGO_" + strings.ToUpper(strings.ReplaceAll(opts.Name, "-", "_")) + "_",
		GoVersion: work.Go,
	}
	dir := filepath.Join(opts.Root, filepath.FromSlash(spec.Dir))
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("%s exists; not overwriting it", spec.Dir)
	}
	used, err := usedCmds(opts.Root, work)
	if err != nil {
		return err
	}
	if spec.Cmd == 0 {
		spec.Cmd = freeCmd(used)
	} else if svc, ok := used[spec.Cmd]; ok {
		return fmt.Errorf("cmd %d is used by %s", spec.Cmd, svc)
	}
	genPath := filepath.Join(opts.Root, filepath.FromSlash(servicesGen))
	entries, err := readServicesGen(genPath)
	if err != nil {
		return err
	}
	if err := writeService(dir, spec); err != nil {
		_ = os.RemoveAll(dir)
		return err
	}
	fmt.Fprintf(opts.Out, "created %s (service %s, cmd %d)\n", spec.Dir, spec.Name, spec.Cmd)

	// Register it: go.work, cmd/iogo's requirements, the dev runner's list.
	steps := []struct {
		what string
		fn   func() error
	}{
		{"go work use ./" + spec.Dir, func() error { return goCmd(ctx, opts.Root, nil, "work", "use", "./"+spec.Dir) }},
		{"require it in cmd/iogo/go.mod", func() error {
			return goCmd(ctx, filepath.Join(opts.Root, "cmd", "iogo"), nil, "mod", "edit",
				"-require="+spec.Module+"@v0.0.0", "-replace="+spec.Module+"=../../"+spec.Dir)
		}},
		{"list it in " + servicesGen, func() error {
			entries = append(entries, genEntry{Path: spec.Module + "/" + spec.Pkg, Pkg: spec.Pkg})
			return writeServicesGen(genPath, entries)
		}},
	}
	if !opts.NoTidy {
		steps = append(steps, struct {
			what string
			fn   func() error
		}{"go mod tidy in " + spec.Dir, func() error {
			return goCmd(ctx, dir, []string{"GOWORK=off"}, "mod", "tidy")
		}})
	}
	for _, st := range steps {
		if err := st.fn(); err != nil {
			return fmt.Errorf("%s: %w (the service folder is created; finish by hand)", st.what, err)
		}
		fmt.Fprintf(opts.Out, "  %s\n", st.what)
	}
	fmt.Fprintf(opts.Out, "next: cd %s && go test ./...; `iogo dev` now runs it\n", spec.Dir)
	return nil
}

// writeService renders the templates into dir, which must not exist.
func writeService(dir string, spec newSpec) error {
	files := []struct{ tmpl, name string }{
		{"go.mod.tmpl", "go.mod"},
		{"main.go.tmpl", "main.go"},
		{"README.md.tmpl", "README.md"},
		{"pkg.go.tmpl", filepath.Join(spec.Pkg, spec.Pkg+".go")},
		{"pkg_test.go.tmpl", filepath.Join(spec.Pkg, spec.Pkg+"_test.go")},
	}
	if err := os.MkdirAll(filepath.Join(dir, spec.Pkg), 0o755); err != nil {
		return err
	}
	for _, f := range files {
		out, err := render(f.tmpl, spec)
		if err != nil {
			return err
		}
		if strings.HasSuffix(f.name, ".go") {
			if out, err = format.Source(out); err != nil {
				return fmt.Errorf("template %s: %w", f.tmpl, err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), out, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func render(name string, data any) ([]byte, error) {
	t, err := template.ParseFS(newTemplates, "newtmpl/"+name)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// goCmd runs the go command in dir with extra environment variables.
func goCmd(ctx context.Context, dir string, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// workFile is the part of `go work edit -json` that iogo new reads.
type workFile struct {
	Go  string
	Use []struct{ DiskPath string }
}

func readWork(ctx context.Context, root string) (*workFile, error) {
	cmd := exec.CommandContext(ctx, "go", "work", "edit", "-json")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOWORK="+filepath.Join(root, "go.work"))
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(root, "go.work"), err)
	}
	var w workFile
	if err := json.Unmarshal(out, &w); err != nil {
		return nil, fmt.Errorf("read go.work: %w", err)
	}
	return &w, nil
}

// usedCmds returns the route cmds of the services in go.work (the modules
// under services/), each with the file that declares it: integer
// constants whose name ends in "Cmd", and integer literals passed to a
// Group method.
func usedCmds(root string, w *workFile) (map[int32]string, error) {
	used := make(map[int32]string)
	fset := token.NewFileSet()
	for _, u := range w.Use {
		rel := path.Clean(filepath.ToSlash(u.DiskPath))
		if !strings.HasPrefix(rel, "services/") {
			continue
		}
		modDir, err := filepath.EvalSymlinks(filepath.Join(root, filepath.FromSlash(rel)))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		err = filepath.WalkDir(modDir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if p != modDir && (d.Name() == "testdata" || d.Name() == "vendor" || strings.HasPrefix(d.Name(), ".")) {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			relFile, _ := filepath.Rel(modDir, p)
			relFile = path.Join(rel, filepath.ToSlash(relFile))
			for _, n := range cmdLiterals(f) {
				if _, ok := used[n]; !ok {
					used[n] = relFile
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", rel, err)
		}
	}
	return used, nil
}

// cmdLiterals returns the cmds a file declares (see usedCmds).
func cmdLiterals(f *ast.File) []int32 {
	var out []int32
	lit := func(e ast.Expr) {
		if bl, ok := e.(*ast.BasicLit); ok && bl.Kind == token.INT {
			if n, err := strconv.ParseInt(bl.Value, 0, 32); err == nil {
				out = append(out, int32(n))
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.ValueSpec:
			for i, id := range n.Names {
				if strings.HasSuffix(id.Name, "Cmd") && i < len(n.Values) {
					lit(n.Values[i])
				}
			}
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Group" && len(n.Args) == 1 {
				lit(n.Args[0])
			}
		}
		return true
	})
	return out
}

// freeCmd returns the lowest cmd from 1 up that is not used.
func freeCmd(used map[int32]string) int32 {
	n := int32(1)
	for ; ; n++ {
		if _, ok := used[n]; !ok {
			return n
		}
	}
}

// genEntry is one service in services_gen.go.
type genEntry struct {
	Path string // import path of the package with Service and Router or FromFlags
	Pkg  string // its package name
	// Module: the package builds a logic.Module (FromFlags); else it
	// has a Router.
	Module bool
	// Alias is set by writeServicesGen when the package name is taken.
	Alias string
}

// Ident is how services_gen.go names the package.
func (e genEntry) Ident() string {
	if e.Alias != "" {
		return e.Alias
	}
	return e.Pkg
}

// readServicesGen returns the services that services_gen.go lists, in
// order: the elements {name: X.Service, routes: ...} or {name: X.Service,
// module: ...} of devServices' list.
func readServicesGen(file string) ([]genEntry, error) {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", servicesGen, err)
	}
	imports := make(map[string]string) // name in the file → import path
	for _, is := range f.Imports {
		p, _ := strconv.Unquote(is.Path.Value)
		name := path.Base(p)
		if is.Name != nil {
			name = is.Name.Name
		}
		imports[name] = p
	}
	var out []genEntry
	ast.Inspect(f, func(n ast.Node) bool {
		cl, ok := n.(*ast.CompositeLit)
		if !ok {
			return true
		}
		var e genEntry
		for _, el := range cl.Elts {
			kv, ok := el.(*ast.KeyValueExpr)
			if !ok {
				continue
			}
			switch key, _ := kv.Key.(*ast.Ident); {
			case key == nil:
			case key.Name == "name":
				if sel, ok := kv.Value.(*ast.SelectorExpr); ok && sel.Sel.Name == "Service" {
					if id, ok := sel.X.(*ast.Ident); ok && imports[id.Name] != "" {
						e.Path, e.Pkg = imports[id.Name], path.Base(imports[id.Name])
					}
				}
			case key.Name == "module":
				e.Module = true
			}
		}
		if e.Path == "" {
			return true
		}
		out = append(out, e)
		return false
	})
	if len(out) == 0 {
		return nil, fmt.Errorf("%s lists no service", servicesGen)
	}
	return out, nil
}

// writeServicesGen writes services_gen.go listing entries, in order.
func writeServicesGen(file string, entries []genEntry) error {
	taken := map[string]bool{}
	for i := range entries {
		e := &entries[i]
		e.Alias = ""
		for n := 2; taken[e.Ident()]; n++ {
			e.Alias = e.Pkg + strconv.Itoa(n)
		}
		taken[e.Ident()] = true
	}
	out, err := render("services_gen.go.tmpl", entries)
	if err != nil {
		return err
	}
	if out, err = format.Source(out); err != nil {
		return fmt.Errorf("%s: %w", servicesGen, err)
	}
	return os.WriteFile(file, out, 0o644)
}
