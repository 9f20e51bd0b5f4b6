package wire

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"testing"

	demopb "github.com/iogo-dev/iogo/proto/demo"
	"github.com/iogo-dev/iogo/proto/iohao"
	"google.golang.org/protobuf/proto"
)

// roundTrip encodes v with every codec, decodes it back and compares. For
// protobuf it also checks the bytes against the generated wrapper message.
func roundTrip[T any](t *testing.T, name string, v T, wrapper proto.Message) {
	t.Helper()
	val, err := ValueOf[T]()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Codec{Protobuf{}, JSON{}} {
		t.Run(name+"/"+c.Name(), func(t *testing.T) {
			b, err := val.Append(nil, c, v)
			if err != nil {
				t.Fatal(err)
			}
			if wrapper != nil && c.Name() == NameProtobuf {
				want, _ := proto.MarshalOptions{Deterministic: true}.Marshal(wrapper)
				if !bytes.Equal(b, want) {
					t.Fatalf("encoding %x, generated wrapper %x", b, want)
				}
			}
			got, err := val.Unmarshal(b, c)
			if err != nil {
				t.Fatal(err)
			}
			if !equalValue(got, v) {
				t.Fatalf("got %v, want %v", got, v)
			}
		})
	}
}

func equalValue(a, b any) bool {
	if am, ok := a.(proto.Message); ok {
		return proto.Equal(am, b.(proto.Message))
	}
	if as, ok := a.([]*demopb.EchoMsg); ok {
		bs := b.([]*demopb.EchoMsg)
		if len(as) != len(bs) {
			return false
		}
		for i := range as {
			if !proto.Equal(as[i], bs[i]) {
				return false
			}
		}
		return true
	}
	av, bv := reflect.ValueOf(a), reflect.ValueOf(b)
	if av.Kind() == reflect.Slice && av.Len() == 0 && bv.Len() == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

func TestValues(t *testing.T) {
	roundTrip(t, "int32", int32(-1004), &iohao.IntValue{Value: -1004})
	roundTrip(t, "int32 zero", int32(0), &iohao.IntValue{})
	roundTrip(t, "int32 min", int32(-1<<31), &iohao.IntValue{Value: -1 << 31})
	roundTrip(t, "int64", int64(1<<50), &iohao.LongValue{Value: 1 << 50})
	roundTrip(t, "int64 negative", int64(-7), &iohao.LongValue{Value: -7})
	roundTrip(t, "bool", true, &iohao.BoolValue{Value: true})
	roundTrip(t, "bool false", false, &iohao.BoolValue{})
	roundTrip(t, "string", "héllo", &iohao.StringValue{Value: "héllo"})
	roundTrip(t, "[]int32", []int32{1, -2, 3}, &iohao.IntValueList{Values: []int32{1, -2, 3}})
	roundTrip(t, "[]int64", []int64{1 << 40, -1}, &iohao.LongValueList{Values: []int64{1 << 40, -1}})
	roundTrip(t, "[]bool", []bool{true, false}, &iohao.BoolValueList{Values: []bool{true, false}})
	roundTrip(t, "[]string", []string{"a", "", "c"}, &iohao.StringValueList{Values: []string{"a", "", "c"}})
	roundTrip(t, "[]int32 empty", []int32{}, nil)
	roundTrip(t, "message", &demopb.EchoMsg{Text: "x", Seq: 3}, &demopb.EchoMsg{Text: "x", Seq: 3})
	roundTrip(t, "[]message", []*demopb.EchoMsg{{Text: "a"}, {Seq: 2}}, nil)
	roundTrip(t, "bytes", []byte{1, 2, 3}, nil)
}

func TestValueEmptyDataIsZero(t *testing.T) {
	for _, c := range []Codec{Protobuf{}, JSON{}} {
		i, err := mustValue[int64](t).Unmarshal(nil, c)
		if err != nil || i != 0 {
			t.Fatalf("%s int64: %v %v", c.Name(), i, err)
		}
		s, err := mustValue[string](t).Unmarshal(nil, c)
		if err != nil || s != "" {
			t.Fatalf("%s string: %q %v", c.Name(), s, err)
		}
		m, err := mustValue[*demopb.EchoMsg](t).Unmarshal(nil, c)
		if err != nil || m == nil || m.Text != "" {
			t.Fatalf("%s message: %v %v", c.Name(), m, err)
		}
	}
}

func TestValuePackedAndUnpacked(t *testing.T) {
	// IntValueList{values: [1, -1]} as sint32: zigzag 2, 1.
	tests := []struct {
		name, hex string
	}{
		{"packed", "0a020201"},
		{"unpacked", "08020801"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := hex.DecodeString(tt.hex)
			got, err := mustValue[[]int32](t).Unmarshal(b, Protobuf{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, []int32{1, -1}) {
				t.Fatalf("got %v", got)
			}
		})
	}
}

func TestValueScalarLastWinsAndUnknownSkipped(t *testing.T) {
	// LongValue: field 1 = zigzag(3)=6, unknown field 2 = 9, field 1 = zigzag(-5)=9.
	b, _ := hex.DecodeString("0806" + "1009" + "0809")
	got, err := mustValue[int64](t).Unmarshal(b, Protobuf{})
	if err != nil || got != -5 {
		t.Fatalf("got %d, %v; want -5", got, err)
	}
	if _, err := mustValue[int64](t).Unmarshal([]byte{0x0a, 0x00}, Protobuf{}); err == nil {
		t.Fatal("field 1 with the wrong wire type must fail")
	}
}

func TestValueUnsupported(t *testing.T) {
	if _, err := ValueOf[float64](); err == nil {
		t.Fatal("float64 is not a supported payload")
	}
	if _, err := ValueOf[map[string]int](); err == nil {
		t.Fatal("map is not a supported payload")
	}
}

func TestValueTypeName(t *testing.T) {
	if n := mustValue[int32](t).TypeName(); n != "iohao.IntValue" {
		t.Fatal(n)
	}
	if n := mustValue[*demopb.EchoMsg](t).TypeName(); n != "iogo.demo.EchoMsg" {
		t.Fatal(n)
	}
}

func mustValue[T any](t *testing.T) Value[T] {
	t.Helper()
	v, err := ValueOf[T]()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func BenchmarkValueInt64(b *testing.B) {
	v, _ := ValueOf[int64]()
	buf := make([]byte, 0, 16)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = v.Append(buf[:0], Protobuf{}, 123456789)
		if _, err := v.Unmarshal(buf, Protobuf{}); err != nil {
			b.Fatal(err)
		}
	}
}
