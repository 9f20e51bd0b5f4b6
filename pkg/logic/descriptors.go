package logic

import (
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// payloadTypes returns the protobuf full names of the messages that the
// routes and pushes carry, each once, sorted. A list of messages
// ("iohao.ByteValueList<pkg.Msg>") counts as both the list wrapper and the
// element type; raw bytes have no type.
func payloadTypes(routes []Route, pushes []PushRoute) []string {
	seen := make(map[string]bool)
	add := func(name string) {
		if name == "" || name == "bytes" {
			return
		}
		if outer, inner, ok := strings.Cut(name, "<"); ok {
			seen[outer] = true
			name = strings.TrimSuffix(inner, ">")
		}
		seen[name] = true
	}
	for i := range routes {
		add(routes[i].Req)
		add(routes[i].Resp)
	}
	for i := range pushes {
		add(pushes[i].Type)
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// descriptorSet returns a serialized google.protobuf.FileDescriptorSet
// holding the files that define the named messages, with every file they
// import, dependencies first, from the linked-in registry
// (protoregistry.GlobalFiles). Names not found there are returned in
// missing and left out.
func descriptorSet(names []string) (set []byte, missing []string, err error) {
	var files []protoreflect.FileDescriptor
	seen := make(map[string]bool)
	var visit func(fd protoreflect.FileDescriptor)
	visit = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := range imports.Len() {
			visit(imports.Get(i).FileDescriptor)
		}
		files = append(files, fd) // after its imports
	}
	for _, n := range names {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(n))
		if err != nil {
			missing = append(missing, n)
			continue
		}
		visit(d.ParentFile())
	}
	fds := &descriptorpb.FileDescriptorSet{File: make([]*descriptorpb.FileDescriptorProto, 0, len(files))}
	for _, fd := range files {
		fds.File = append(fds.File, protodesc.ToFileDescriptorProto(fd))
	}
	set, err = proto.MarshalOptions{Deterministic: true}.Marshal(fds)
	return set, missing, err
}

// DescriptorSet returns a serialized google.protobuf.FileDescriptorSet with
// the message types that routes and pushes carry and the files they import,
// from the linked-in registry, as the server publishes it; names not linked
// in are returned in missing. Code generation (package gen) reads it.
func DescriptorSet(routes []Route, pushes []PushRoute) (set []byte, missing []string, err error) {
	return descriptorSet(payloadTypes(routes, pushes))
}
