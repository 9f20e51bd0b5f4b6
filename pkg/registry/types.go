package registry

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Types resolves the message types that logic-server instances publish
// (Instance.Descriptors) without linking them in: files and types built
// from the descriptor sets come first, then those linked into the program
// (protoregistry.GlobalFiles, GlobalTypes). It serves protodesc, proto and
// protojson as their resolver. A Types is immutable and safe for concurrent
// use.
type Types struct {
	files *protoregistry.Files
	types *dynamicpb.Types
}

// NewTypes builds Types from serialized FileDescriptorSets. A file named in
// several sets is taken from the first, so callers list the newest set
// first. Imports resolve within the sets, then among the linked-in files. A
// set that does not parse, or a file that does not build (with the files
// importing it), is left out and reported to skip, which may be nil.
func NewTypes(sets [][]byte, skip func(file string, err error)) *Types {
	if skip == nil {
		skip = func(string, error) {}
	}
	b := typesBuilder{
		protos: make(map[string]*descriptorpb.FileDescriptorProto),
		t:      &Types{files: new(protoregistry.Files)},
		state:  make(map[string]uint8),
		skip:   skip,
	}
	var order []string
	for _, raw := range sets {
		var set descriptorpb.FileDescriptorSet
		if err := proto.Unmarshal(raw, &set); err != nil {
			skip("", fmt.Errorf("malformed descriptor set: %w", err))
			continue
		}
		for _, f := range set.GetFile() {
			if _, ok := b.protos[f.GetName()]; !ok {
				b.protos[f.GetName()] = f
				order = append(order, f.GetName())
			}
		}
	}
	for _, name := range order {
		b.add(name)
	}
	b.t.types = dynamicpb.NewTypes(b.t.files)
	return b.t
}

type typesBuilder struct {
	protos map[string]*descriptorpb.FileDescriptorProto
	t      *Types
	state  map[string]uint8 // 1 while its imports are being added, 2 when done
	skip   func(string, error)
}

// add registers file name after its imports.
func (b *typesBuilder) add(name string) {
	fdp, ok := b.protos[name]
	if !ok || b.state[name] != 0 {
		return // not in the sets (resolved from the linked-in files), or seen
	}
	b.state[name] = 1
	for _, dep := range fdp.GetDependency() {
		if b.state[dep] == 1 {
			b.skip(name, fmt.Errorf("import cycle through %s", dep))
			b.state[name] = 2
			return
		}
		b.add(dep)
	}
	b.state[name] = 2
	fd, err := protodesc.NewFile(fdp, b.t)
	if err == nil {
		err = b.t.files.RegisterFile(fd)
	}
	if err != nil {
		b.skip(name, err)
	}
}

// FindFileByPath implements protodesc.Resolver.
func (t *Types) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	if fd, err := t.files.FindFileByPath(path); err == nil {
		return fd, nil
	}
	return protoregistry.GlobalFiles.FindFileByPath(path)
}

// FindDescriptorByName implements protodesc.Resolver.
func (t *Types) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	if d, err := t.files.FindDescriptorByName(name); err == nil {
		return d, nil
	}
	return protoregistry.GlobalFiles.FindDescriptorByName(name)
}

// FindMessageByName implements protoregistry.MessageTypeResolver.
func (t *Types) FindMessageByName(name protoreflect.FullName) (protoreflect.MessageType, error) {
	if t.types != nil {
		if mt, err := t.types.FindMessageByName(name); err == nil {
			return mt, nil
		}
	}
	return protoregistry.GlobalTypes.FindMessageByName(name)
}

// FindMessageByURL implements protoregistry.MessageTypeResolver.
func (t *Types) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	if t.types != nil {
		if mt, err := t.types.FindMessageByURL(url); err == nil {
			return mt, nil
		}
	}
	return protoregistry.GlobalTypes.FindMessageByURL(url)
}

// FindExtensionByName implements protoregistry.ExtensionTypeResolver.
func (t *Types) FindExtensionByName(name protoreflect.FullName) (protoreflect.ExtensionType, error) {
	if t.types != nil {
		if xt, err := t.types.FindExtensionByName(name); err == nil {
			return xt, nil
		}
	}
	return protoregistry.GlobalTypes.FindExtensionByName(name)
}

// FindExtensionByNumber implements protoregistry.ExtensionTypeResolver.
func (t *Types) FindExtensionByNumber(message protoreflect.FullName, field protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	if t.types != nil {
		if xt, err := t.types.FindExtensionByNumber(message, field); err == nil {
			return xt, nil
		}
	}
	return protoregistry.GlobalTypes.FindExtensionByNumber(message, field)
}
