package external

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/registry"
	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/iogo-dev/iogo/proto/iohao"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// gameFiles returns descriptors of a game's messages that the gate does
// not link in: gametest.Ping (text, n, pos; with level in v2) in
// ping.proto, which imports gametest.Pos from common.proto. The importing
// file comes first in the set.
func gameFiles(t testing.TB, v2 bool) (set []byte, ping protoreflect.MessageDescriptor) {
	t.Helper()
	field := func(name string, num int32, typ descriptorpb.FieldDescriptorProto_Type, msg string) *descriptorpb.FieldDescriptorProto {
		f := &descriptorpb.FieldDescriptorProto{
			Name: proto.String(name), JsonName: proto.String(name), Number: proto.Int32(num),
			Type: typ.Enum(), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
		}
		if msg != "" {
			f.TypeName = proto.String(msg)
		}
		return f
	}
	common := &descriptorpb.FileDescriptorProto{
		Name: proto.String("gametest/common.proto"), Package: proto.String("gametest"), Syntax: proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Pos"),
			Field: []*descriptorpb.FieldDescriptorProto{
				field("x", 1, descriptorpb.FieldDescriptorProto_TYPE_INT32, ""),
				field("y", 2, descriptorpb.FieldDescriptorProto_TYPE_INT32, ""),
			},
		}},
	}
	pingMsg := &descriptorpb.DescriptorProto{
		Name: proto.String("Ping"),
		Field: []*descriptorpb.FieldDescriptorProto{
			field("text", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING, ""),
			field("n", 2, descriptorpb.FieldDescriptorProto_TYPE_INT32, ""),
			field("pos", 3, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, ".gametest.Pos"),
		},
	}
	if v2 {
		pingMsg.Field = append(pingMsg.Field, field("level", 4, descriptorpb.FieldDescriptorProto_TYPE_INT32, ""))
	}
	pingFile := &descriptorpb.FileDescriptorProto{
		Name: proto.String("gametest/ping.proto"), Package: proto.String("gametest"), Syntax: proto.String("proto3"),
		Dependency:  []string{"gametest/common.proto"},
		MessageType: []*descriptorpb.DescriptorProto{pingMsg},
	}
	fds := &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{pingFile, common}}
	files, err := protodesc.NewFiles(fds)
	if err != nil {
		t.Fatal(err)
	}
	d, err := files.FindDescriptorByName("gametest.Ping")
	if err != nil {
		t.Fatal(err)
	}
	set, err = proto.Marshal(fds)
	if err != nil {
		t.Fatal(err)
	}
	return set, d.(protoreflect.MessageDescriptor)
}

// ping encodes a gametest.Ping with the given fields set.
func ping(t testing.TB, md protoreflect.MessageDescriptor, fields map[string]any) []byte {
	t.Helper()
	m := dynamicpb.NewMessage(md)
	for name, v := range fields {
		fd := md.Fields().ByName(protoreflect.Name(name))
		if sub, ok := v.(map[string]any); ok {
			pos := dynamicpb.NewMessage(fd.Message())
			for k, x := range sub {
				pos.Set(fd.Message().Fields().ByName(protoreflect.Name(k)), protoreflect.ValueOf(x))
			}
			m.Set(fd, protoreflect.ValueOfMessage(pos))
			continue
		}
		m.Set(fd, protoreflect.ValueOf(v))
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsonEqual reports whether a and b are the same JSON value (protojson
// varies its whitespace on purpose).
func jsonEqual(a []byte, b string) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal([]byte(b), &y) == nil && reflect.DeepEqual(x, y)
}

func TestTranscoder(t *testing.T) {
	v1, md1 := gameFiles(t, false)
	v2, md2 := gameFiles(t, true)
	old, now := time.Now().Add(-time.Hour), time.Now()
	var live []registry.Instance
	tc := newTranscoder(func() []registry.Instance { return append([]registry.Instance(nil), live...) }, testLogger())
	intValue, _ := proto.Marshal(&iohao.IntValue{Value: 5})

	tests := []struct {
		name      string
		instances []registry.Instance
		typ       string
		data      []byte
		want      string // "" for no transcoding
	}{
		{"no descriptors", nil, "gametest.Ping", ping(t, md1, map[string]any{"text": "hi"}), ""},
		{"gate's own type", nil, "iohao.IntValue", intValue, `{"value":5}`},
		{"invalid name", nil, "not a name", intValue, ""},
		{"from the registry", []registry.Instance{{ID: "a", Started: old, Descriptors: v1}},
			"gametest.Ping", ping(t, md1, map[string]any{"text": "hi", "n": int32(2), "pos": map[string]any{"x": int32(3)}}),
			`{"text":"hi","n":2,"pos":{"x":3}}`},
		{"newest version wins", []registry.Instance{{ID: "a", Started: old, Descriptors: v1}, {ID: "b", Started: now, Descriptors: v2}},
			"gametest.Ping", ping(t, md2, map[string]any{"level": int32(9)}), `{"level":9}`},
		{"old version alone", []registry.Instance{{ID: "a", Started: old, Descriptors: v1}},
			"gametest.Ping", ping(t, md2, map[string]any{"text": "x", "level": int32(9)}), `{"text":"x"}`},
		{"not its type", []registry.Instance{{ID: "a", Started: old, Descriptors: v1}},
			"gametest.Ping", []byte{0xff, 0xff}, ""},
		{"malformed descriptors", []registry.Instance{{ID: "a", Started: old, Descriptors: []byte{0xff}}},
			"gametest.Ping", ping(t, md1, map[string]any{"text": "hi"}), ""},
		{"instances gone", nil, "gametest.Ping", ping(t, md1, map[string]any{"text": "hi"}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			live = tt.instances
			tc.changed()
			tc.refresh()
			got, ok := tc.toJSON(tt.typ, tt.data)
			if ok != (tt.want != "") || (ok && !jsonEqual(got, tt.want)) {
				t.Fatalf("got %s, %v; want %s", got, ok, tt.want)
			}
		})
	}
}

// TestPushTranscoded: a typed push reaches JSON sessions as JSON, once an
// instance has published the type's descriptors, and others unchanged.
func TestPushTranscoded(t *testing.T) {
	ns := runNATS(t)
	logic := connect(t, ns)
	reg := openRegistry(t, logic)
	g := startGate(t, ns, nil)
	jsonClient := dialT(t, wsURL(g)+"?codec=json")
	protoClient := dialT(t, tcpURL(g))
	for _, c := range []*client.Client{jsonClient, protoClient} {
		if err := c.Heartbeat(ctxT(t)); err != nil { // registered
			t.Fatal(err)
		}
	}
	set, md := gameFiles(t, false)
	data := ping(t, md, map[string]any{"text": "hi", "n": int32(2)})
	push := func(t *testing.T, typ string, data []byte) {
		meta := fabric.Meta{Cmd: 3, Sub: 4}
		h := meta.Header()
		h.Set(fabric.HeaderType, typ)
		if err := logic.PublishMsg(&nats.Msg{Subject: fabric.PushAll, Header: h, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	next := func(t *testing.T, c *client.Client) *wire.Message {
		t.Helper()
		select {
		case m := <-c.Pushes():
			if m.CmdMerge != wire.Merge(3, 4) || m.MsgID != 0 {
				t.Fatalf("push %+v", m)
			}
			return m
		case <-time.After(5 * time.Second):
			t.Fatal("no push")
			return nil
		}
	}

	t.Run("unknown type as it is", func(t *testing.T) {
		push(t, "gametest.Ping", data)
		if m := next(t, jsonClient); !bytes.Equal(m.Data, data) {
			t.Fatalf("json client got %q", m.Data)
		}
		if m := next(t, protoClient); !bytes.Equal(m.Data, data) {
			t.Fatalf("protobuf client got %q", m.Data)
		}
	})
	t.Run("type from the registry", func(t *testing.T) {
		in := registry.Instance{ID: "game-1", Service: "game", Started: time.Now(), Descriptors: set}
		if err := reg.Heartbeat(ctxT(t), in); err != nil {
			t.Fatal(err)
		}
		// The view follows the registry asynchronously: push until the
		// gate knows the type.
		deadline := time.Now().Add(5 * time.Second)
		for {
			push(t, "gametest.Ping", data)
			if m := next(t, protoClient); !bytes.Equal(m.Data, data) {
				t.Fatalf("protobuf client got %q", m.Data)
			}
			m := next(t, jsonClient)
			if jsonEqual(m.Data, `{"text":"hi","n":2}`) {
				break
			}
			if !bytes.Equal(m.Data, data) || time.Now().After(deadline) {
				t.Fatalf("json client got %q", m.Data)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	t.Run("untyped push as it is", func(t *testing.T) {
		meta := fabric.Meta{Cmd: 3, Sub: 4}
		if err := logic.PublishMsg(&nats.Msg{Subject: fabric.PushAll, Header: meta.Header(), Data: data}); err != nil {
			t.Fatal(err)
		}
		if m := next(t, jsonClient); !bytes.Equal(m.Data, data) {
			t.Fatalf("json client got %q", m.Data)
		}
		next(t, protoClient)
	})
}
