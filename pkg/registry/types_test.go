package registry_test

import (
	"testing"

	"github.com/iogo-dev/iogo/pkg/registry"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

func set(t *testing.T, files ...*descriptorpb.FileDescriptorProto) []byte {
	t.Helper()
	b, err := proto.Marshal(&descriptorpb.FileDescriptorSet{File: files})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func file(name, pkg, msg string, deps ...string) *descriptorpb.FileDescriptorProto {
	return &descriptorpb.FileDescriptorProto{
		Name: proto.String(name), Package: proto.String(pkg), Dependency: deps, Syntax: proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String(msg),
			Field: []*descriptorpb.FieldDescriptorProto{{
				Name: proto.String("text"), Number: proto.Int32(1), JsonName: proto.String("text"),
				Type:  descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(),
				Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
			}},
		}},
	}
}

func TestTypes(t *testing.T) {
	var skipped []string
	skip := func(f string, err error) { skipped = append(skipped, f) }
	types := registry.NewTypes([][]byte{
		set(t, file("game/a.proto", "game", "Chat")),
		set(t, file("game/a.proto", "game", "Older")), // same file again: the first wins
		[]byte("\xff not a set"),
		set(t, file("game/b.proto", "game", "Orphan", "missing.proto")),
	}, skip)

	mt, err := types.FindMessageByName("game.Chat")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mt.New().Interface().(*dynamicpb.Message); !ok {
		t.Fatal("a published type must resolve to a dynamic message")
	}
	if _, err := types.FindMessageByName("game.Older"); err == nil {
		t.Fatal("a file published twice must come from the first set")
	}
	// Linked-in types are found too.
	if _, err := types.FindMessageByName(protoreflect.FullName("google.protobuf.FileDescriptorSet")); err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 2 || skipped[0] != "" || skipped[1] != "game/b.proto" {
		t.Fatalf("skipped %q, want the malformed set and the file with a missing import", skipped)
	}
	if _, err := registry.NewTypes(nil, nil).FindMessageByName("game.Chat"); err == nil {
		t.Fatal("empty Types found an unpublished type")
	}
}
