package gen

import (
	"bytes"
	"fmt"
	"go/format"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Go renders a typed client package per service on top of pkg/client,
// "<service>api/<service>api.go": a function per route, a decoder per
// push and the declared error codes as errs sentinels.
func Go(m Model, _ Options) (map[string][]byte, error) {
	out := make(map[string][]byte, len(m.Services))
	for _, s := range m.Services {
		src, err := goService(s)
		if err != nil {
			return nil, err
		}
		pkg := goPackageName(s.Name)
		out[pkg+"/"+pkg+".go"] = src
	}
	return out, nil
}

func goPackageName(service string) string {
	return strings.ToLower(exported(service)) + "api"
}

// goTypes resolves protobuf names to Go types and collects imports.
type goTypes struct {
	files   *protoregistry.Files
	imports map[string]string // import path → package name
}

func (g *goTypes) typ(name string) (string, error) {
	if t, ok := bareGo[name]; ok {
		return t, nil
	}
	if _, inner, ok := strings.Cut(name, "<"); ok {
		t, err := g.typ(strings.TrimSuffix(inner, ">"))
		return "[]" + t, err
	}
	d, err := g.files.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		return "", fmt.Errorf("gen: message %s not in descriptors", name)
	}
	opts, _ := d.ParentFile().Options().(*descriptorpb.FileOptions)
	path, pkg, ok := strings.Cut(opts.GetGoPackage(), ";")
	if path == "" {
		return "", fmt.Errorf("gen: %s has no go_package", d.ParentFile().Path())
	}
	if !ok {
		pkg = path[strings.LastIndex(path, "/")+1:]
	}
	g.imports[path] = pkg
	// A nested message Outer.Inner is Outer_Inner in Go.
	rel := strings.TrimPrefix(string(d.FullName()), string(d.ParentFile().Package())+".")
	return "*" + pkg + "." + strings.ReplaceAll(rel, ".", "_"), nil
}

func goService(s Service) ([]byte, error) {
	files, err := s.Files()
	if err != nil {
		return nil, err
	}
	types := &goTypes{files: files, imports: map[string]string{
		"context":                             "context",
		"github.com/iogo-dev/iogo/pkg/client": "client",
	}}
	pkg := goPackageName(s.Name)
	var body bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&body, format, args...) }

	if len(s.Errors) > 0 {
		types.imports["github.com/iogo-dev/iogo/pkg/errs"] = "errs"
		w("// Errors the %s service declares; compare with errors.Is.\nvar (\n", s.Name)
		for _, e := range s.Errors {
			w("\t// Err%s is code %d.\n\tErr%s = errs.New(%d, %q)\n", exported(e.Name), e.Code, exported(e.Name), e.Code, e.Msg)
		}
		w(")\n\n")
	}
	names := routeNames(s)
	for i, r := range s.Routes {
		req, err := types.typ(r.Req)
		if err != nil {
			return nil, err
		}
		w("%s", goDoc(names[i], r.Doc, fmt.Sprintf("Route %d-%d, access %s.", r.Cmd, r.Sub, r.Access)))
		if r.Void {
			w("// It returns once the request is sent; a failure arrives on c.Pushes\n// with the returned msgID.\n")
			w("func %s(ctx context.Context, c *client.Client, req %s) (msgID int32, err error) {\n", names[i], req)
			w("\treturn send(ctx, c, %d, %d, req)\n}\n\n", r.Cmd, r.Sub)
			continue
		}
		resp, err := types.typ(r.Resp)
		if err != nil {
			return nil, err
		}
		w("func %s(ctx context.Context, c *client.Client, req %s) (%s, error) {\n", names[i], req, resp)
		w("\treturn client.Call[%s, %s](ctx, c, %d, %d, req)\n}\n\n", req, resp, r.Cmd, r.Sub)
	}
	pnames := pushNames(s)
	for i, p := range s.Pushes {
		t, err := types.typ(p.Type)
		if err != nil {
			return nil, err
		}
		w("// Push%sCmd and Push%sSub are the route of push %s.\nconst (\n\tPush%sCmd int32 = %d\n\tPush%sSub int32 = %d\n)\n\n",
			pnames[i], pnames[i], pnames[i], pnames[i], p.Cmd, pnames[i], p.Sub)
		w("// Decode%s decodes push %d-%d, or returns ok false for any other message.\n", pnames[i], p.Cmd, p.Sub)
		if p.Doc != "" {
			for _, line := range wrap(p.Doc, 76) {
				w("// %s\n", line)
			}
		}
		w("func Decode%s(c *client.Client, m *wire.Message) (v %s, ok bool, err error) {\n", pnames[i], t)
		w("\tif m.MsgID != 0 || m.CmdMerge != wire.Merge(%d, %d) {\n\t\treturn v, false, nil\n\t}\n", p.Cmd, p.Sub)
		w("\tv, err = decode[%s](c, m)\n\treturn v, true, err\n}\n\n", t)
	}
	if slices.ContainsFunc(s.Routes, func(r Route) bool { return r.Void }) {
		w(`// send encodes req and sends it to a request/void route.
func send[Req any](ctx context.Context, c *client.Client, cmd, sub int32, req Req) (int32, error) {
	v, err := wire.ValueOf[Req]()
	if err != nil {
		return 0, err
	}
	data, err := v.Append(nil, c.Codec(), req)
	if err != nil {
		return 0, err
	}
	return c.Send(ctx, cmd, sub, data)
}

`)
	}
	if len(s.Pushes) > 0 {
		w(`// decode decodes a push's payload.
func decode[T any](c *client.Client, m *wire.Message) (T, error) {
	v, err := wire.ValueOf[T]()
	if err != nil {
		var zero T
		return zero, err
	}
	return v.Unmarshal(m.Data, c.Codec())
}
`)
	}
	if len(s.Pushes) > 0 || slices.ContainsFunc(s.Routes, func(r Route) bool { return r.Void }) {
		types.imports["github.com/iogo-dev/iogo/pkg/wire"] = "wire"
	}
	var head bytes.Buffer
	fmt.Fprintf(&head, "// Code generated by iogo gen; DO NOT EDIT.\n\n")
	fmt.Fprintf(&head, "// Package %s is the typed client of the %s service, on top of\n// github.com/iogo-dev/iogo/pkg/client.\npackage %s\n\nimport (\n", pkg, s.Name, pkg)
	paths := make([]string, 0, len(types.imports))
	for p := range types.imports {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for i, p := range paths {
		if i > 0 && !strings.Contains(p, ".") != !strings.Contains(paths[i-1], ".") {
			head.WriteString("\n") // standard library first
		}
		if name := types.imports[p]; name != p[strings.LastIndex(p, "/")+1:] {
			fmt.Fprintf(&head, "\t%s %q\n", name, p)
		} else {
			fmt.Fprintf(&head, "\t%q\n", p)
		}
	}
	head.WriteString(")\n\n")
	head.Write(body.Bytes())
	src, err := format.Source(head.Bytes())
	if err != nil {
		return nil, fmt.Errorf("gen: go code of %s: %w\n%s", s.Name, err, head.Bytes())
	}
	return src, nil
}

// goDoc renders a doc comment that starts with name.
func goDoc(name, doc, extra string) string {
	text := name + " calls the route."
	if doc != "" {
		d := strings.TrimSpace(doc)
		text = name + " " + strings.ToLower(d[:1]) + d[1:]
	}
	var b strings.Builder
	for _, line := range wrap(text+" "+extra, 76) {
		b.WriteString("// " + line + "\n")
	}
	return b.String()
}

// wrap splits text into lines of at most width bytes, at spaces.
func wrap(text string, width int) []string {
	var lines []string
	var cur strings.Builder
	for _, w := range strings.Fields(text) {
		if cur.Len() > 0 && cur.Len()+1+len(w) > width {
			lines = append(lines, cur.String())
			cur.Reset()
		}
		if cur.Len() > 0 {
			cur.WriteByte(' ')
		}
		cur.WriteString(w)
	}
	if cur.Len() > 0 {
		lines = append(lines, cur.String())
	}
	return lines
}
