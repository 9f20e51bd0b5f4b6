package gen

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

// allFiles merges the descriptor sets of the model's services: each file
// once, dependencies before the files that import them.
func allFiles(m Model) ([]*descriptorpb.FileDescriptorProto, error) {
	byPath := make(map[string]*descriptorpb.FileDescriptorProto)
	for _, s := range m.Services {
		var set descriptorpb.FileDescriptorSet
		if err := proto.Unmarshal(s.Descriptors, &set); err != nil {
			return nil, fmt.Errorf("gen: service %s: descriptors: %w", s.Name, err)
		}
		for _, f := range set.File {
			byPath[f.GetName()] = f
		}
	}
	paths := sortedKeys(byPath)
	var out []*descriptorpb.FileDescriptorProto
	done := make(map[string]bool)
	var visit func(p string)
	visit = func(p string) {
		f, ok := byPath[p]
		if !ok || done[p] {
			return
		}
		done[p] = true
		for _, d := range f.Dependency {
			visit(d)
		}
		out = append(out, f)
	}
	for _, p := range paths {
		visit(p)
	}
	return out, nil
}

// RunPlugin runs a protoc plugin (such as protoc-gen-es) on the model's
// descriptors, without protoc: it writes a CodeGeneratorRequest to the
// plugin's stdin and returns the files of its CodeGeneratorResponse. Files
// under google/protobuf/ are passed as dependencies only; plugins take the
// well-known types from their runtime library. The buf.validate rules are
// left out (the file buf/validate/validate.proto, its imports and the
// options): they are checked by the server, and clients need no code for
// them.
func RunPlugin(ctx context.Context, plugin, parameter string, m Model) (map[string][]byte, error) {
	files, err := allFiles(m)
	if err != nil {
		return nil, err
	}
	files = withoutRules(files)
	req := &pluginpb.CodeGeneratorRequest{Parameter: proto.String(parameter), ProtoFile: files}
	for _, f := range files {
		if !strings.HasPrefix(f.GetName(), "google/protobuf/") {
			req.FileToGenerate = append(req.FileToGenerate, f.GetName())
		}
	}
	slices.Sort(req.FileToGenerate)
	in, err := proto.Marshal(req)
	if err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, plugin)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("gen: %s: %w: %s", plugin, err, stderr.Bytes())
	}
	var resp pluginpb.CodeGeneratorResponse
	if err := proto.Unmarshal(stdout.Bytes(), &resp); err != nil {
		return nil, fmt.Errorf("gen: %s: response: %w", plugin, err)
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("gen: %s: %s", plugin, resp.GetError())
	}
	out := make(map[string][]byte, len(resp.File))
	for _, f := range resp.File {
		if f.InsertionPoint != nil {
			return nil, fmt.Errorf("gen: %s: insertion points are not supported", plugin)
		}
		out[f.GetName()] = []byte(f.GetContent())
	}
	return out, nil
}

// rulesPrefix is the proto package of the protovalidate rules.
const rulesPrefix = "buf/validate/"

// withoutRules returns copies of files without buf/validate/ files, the
// imports of them and the buf.validate options on messages, fields and
// oneofs.
func withoutRules(files []*descriptorpb.FileDescriptorProto) []*descriptorpb.FileDescriptorProto {
	out := make([]*descriptorpb.FileDescriptorProto, 0, len(files))
	for _, f := range files {
		if strings.HasPrefix(f.GetName(), rulesPrefix) {
			continue
		}
		if !slices.ContainsFunc(f.Dependency, func(d string) bool { return strings.HasPrefix(d, rulesPrefix) }) {
			out = append(out, f)
			continue
		}
		f = proto.CloneOf(f)
		var deps []string
		for _, d := range f.Dependency {
			if !strings.HasPrefix(d, rulesPrefix) {
				deps = append(deps, d)
			}
		}
		f.Dependency = deps
		f.PublicDependency, f.WeakDependency = nil, nil // none in our files; indexes would shift
		for _, m := range f.MessageType {
			stripMessage(m)
		}
		out = append(out, f)
	}
	return out
}

func stripMessage(m *descriptorpb.DescriptorProto) {
	stripOptions(m.Options)
	for _, fd := range m.Field {
		stripOptions(fd.Options)
	}
	for _, o := range m.OneofDecl {
		stripOptions(o.Options)
	}
	for _, n := range m.NestedType {
		stripMessage(n)
	}
}

// stripOptions clears the buf.validate extensions of an options message.
func stripOptions(opts proto.Message) {
	if opts == nil || !opts.ProtoReflect().IsValid() {
		return
	}
	r := opts.ProtoReflect()
	r.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if fd.IsExtension() && strings.HasPrefix(string(fd.FullName()), "buf.validate.") {
			r.Clear(fd)
		}
		return true
	})
}
