package gen

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Files parses the service's descriptor set.
func (s *Service) Files() (*protoregistry.Files, error) {
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(s.Descriptors, &set); err != nil {
		return nil, fmt.Errorf("gen: service %s: descriptors: %w", s.Name, err)
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		return nil, fmt.Errorf("gen: service %s: descriptors: %w", s.Name, err)
	}
	return files, nil
}

// Messages returns the messages the service's routes and pushes carry,
// with the message types their fields use, transitively, sorted by full
// name. Map entries are left out.
func (s *Service) Messages() ([]protoreflect.MessageDescriptor, error) {
	files, err := s.Files()
	if err != nil {
		return nil, err
	}
	seen := make(map[protoreflect.FullName]protoreflect.MessageDescriptor)
	var visit func(md protoreflect.MessageDescriptor)
	visit = func(md protoreflect.MessageDescriptor) {
		if md.IsMapEntry() {
			visitFields(md, visit)
			return
		}
		if _, ok := seen[md.FullName()]; ok {
			return
		}
		seen[md.FullName()] = md
		visitFields(md, visit)
	}
	for _, n := range s.TypeNames() {
		d, err := files.FindDescriptorByName(protoreflect.FullName(n))
		if err != nil {
			return nil, fmt.Errorf("gen: service %s: message %s not in descriptors", s.Name, n)
		}
		md, ok := d.(protoreflect.MessageDescriptor)
		if !ok {
			return nil, fmt.Errorf("gen: service %s: %s is not a message", s.Name, n)
		}
		visit(md)
	}
	out := make([]protoreflect.MessageDescriptor, 0, len(seen))
	for _, md := range seen {
		out = append(out, md)
	}
	slices.SortFunc(out, func(a, b protoreflect.MessageDescriptor) int { return cmp.Compare(a.FullName(), b.FullName()) })
	return out, nil
}

func visitFields(md protoreflect.MessageDescriptor, visit func(protoreflect.MessageDescriptor)) {
	fields := md.Fields()
	for i := range fields.Len() {
		if m := fields.Get(i).Message(); m != nil {
			visit(m)
		}
	}
}

// TypeNames returns the message full names the routes and pushes carry,
// each once, sorted; a list type "iohao.ByteValueList<x.Y>" counts as both
// names.
func (s *Service) TypeNames() []string {
	seen := make(map[string]bool)
	add := func(n string) {
		if n == "" || n == "bytes" {
			return
		}
		if outer, inner, ok := strings.Cut(n, "<"); ok {
			seen[outer] = true
			n = strings.TrimSuffix(inner, ">")
		}
		seen[n] = true
	}
	for _, r := range s.Routes {
		add(r.Req)
		add(r.Resp)
	}
	for _, p := range s.Pushes {
		add(p.Type)
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// fieldType renders a field's type as in a .proto file.
func fieldType(fd protoreflect.FieldDescriptor) string {
	if fd.IsMap() {
		return fmt.Sprintf("map<%s, %s>", fieldType(fd.MapKey()), fieldType(fd.MapValue()))
	}
	var t string
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		t = string(fd.Message().FullName())
	case protoreflect.EnumKind:
		t = string(fd.Enum().FullName())
	default:
		t = fd.Kind().String()
	}
	if fd.IsList() {
		return "repeated " + t
	}
	return t
}
