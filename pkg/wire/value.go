package wire

import (
	"fmt"
	"reflect"

	"github.com/iogo-dev/iogo/proto/iohao"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// A Value converts between a handler's Go type and payload bytes in any
// codec. Bare values travel in ioGame's wrappers: int32 as IntValue, int64
// as LongValue, bool as BoolValue, string as StringValue, their slices as
// the *ValueList forms, and a slice of messages as ByteValueList (each
// element encoded on its own). []byte passes through untouched.
//
// Values are built once, at registration, by ValueOf; their methods do no
// reflection except for slices of messages.
type Value[T any] struct {
	appendFn    func(b []byte, c Codec, v T) ([]byte, error)
	unmarshalFn func(b []byte, c Codec) (T, error)
	typeName    string
}

// Append appends the encoding of v to b.
func (v Value[T]) Append(b []byte, c Codec, x T) ([]byte, error) { return v.appendFn(b, c, x) }

// Unmarshal decodes a payload. Empty data decodes to the zero value (an
// empty message for message types).
func (v Value[T]) Unmarshal(b []byte, c Codec) (T, error) { return v.unmarshalFn(b, c) }

// TypeName is the protobuf full name of the payload message (the wrapper
// for bare values), or "bytes" for raw payloads.
func (v Value[T]) TypeName() string { return v.typeName }

// ValueOf returns the Value for T, or an error if T is not a protobuf
// message, a supported bare type, or a slice of either.
func ValueOf[T any]() (Value[T], error) {
	var zero T
	switch any(zero).(type) {
	case int32:
		return scalar[T](&iohao.IntValue{}, appendZigZag32, consumeZigZag32, wrapInt32, unwrapInt32)
	case int64:
		return scalar[T](&iohao.LongValue{}, appendZigZag64, consumeZigZag64, wrapInt64, unwrapInt64)
	case bool:
		return scalar[T](&iohao.BoolValue{}, appendBool, consumeBool, wrapBool, unwrapBool)
	case string:
		return scalar[T](&iohao.StringValue{}, appendString, consumeString, wrapString, unwrapString)
	case []int32:
		return list[T](func(v []int32) *iohao.IntValueList { return &iohao.IntValueList{Values: v} },
			(*iohao.IntValueList).GetValues)
	case []int64:
		return list[T](func(v []int64) *iohao.LongValueList { return &iohao.LongValueList{Values: v} },
			(*iohao.LongValueList).GetValues)
	case []bool:
		return list[T](func(v []bool) *iohao.BoolValueList { return &iohao.BoolValueList{Values: v} },
			(*iohao.BoolValueList).GetValues)
	case []string:
		return list[T](func(v []string) *iohao.StringValueList { return &iohao.StringValueList{Values: v} },
			(*iohao.StringValueList).GetValues)
	case []byte:
		return Value[T]{
			typeName: "bytes",
			appendFn: func(b []byte, _ Codec, v T) ([]byte, error) { return append(b, any(v).([]byte)...), nil },
			unmarshalFn: func(b []byte, _ Codec) (T, error) {
				return any(append([]byte(nil), b...)).(T), nil
			},
		}, nil
	case proto.Message:
		return message[T](any(zero).(proto.Message))
	}
	t := reflect.TypeFor[T]()
	if t.Kind() == reflect.Slice && t.Elem().Implements(reflect.TypeFor[proto.Message]()) {
		return messageList[T](t)
	}
	return Value[T]{}, fmt.Errorf("wire: unsupported payload type %s", t)
}

func message[T any](zero proto.Message) (Value[T], error) {
	mt := zero.ProtoReflect().Type()
	return Value[T]{
		typeName: string(mt.Descriptor().FullName()),
		appendFn: func(b []byte, c Codec, v T) ([]byte, error) {
			m := any(v).(proto.Message)
			if m.ProtoReflect().IsValid() {
				return c.AppendPayload(b, m)
			}
			return b, nil // a nil message encodes as empty, like an empty one
		},
		unmarshalFn: func(b []byte, c Codec) (T, error) {
			m := mt.New().Interface()
			err := c.UnmarshalPayload(b, m)
			return m.(T), err
		},
	}, nil
}

func messageList[T any](t reflect.Type) (Value[T], error) {
	zero := reflect.Zero(t.Elem()).Interface().(proto.Message)
	mt := zero.ProtoReflect().Type()
	return Value[T]{
		typeName: "iohao.ByteValueList<" + string(mt.Descriptor().FullName()) + ">",
		appendFn: func(b []byte, c Codec, v T) ([]byte, error) {
			rv := reflect.ValueOf(v)
			list := &iohao.ByteValueList{Values: make([][]byte, rv.Len())}
			for i := range list.Values {
				el, err := c.AppendPayload(nil, rv.Index(i).Interface().(proto.Message))
				if err != nil {
					return b, err
				}
				list.Values[i] = el
			}
			return c.AppendPayload(b, list)
		},
		unmarshalFn: func(b []byte, c Codec) (T, error) {
			var list iohao.ByteValueList
			var zero T
			if err := c.UnmarshalPayload(b, &list); err != nil {
				return zero, err
			}
			rv := reflect.MakeSlice(t, len(list.Values), len(list.Values))
			for i, raw := range list.Values {
				m := mt.New().Interface()
				if err := c.UnmarshalPayload(raw, m); err != nil {
					return zero, err
				}
				rv.Index(i).Set(reflect.ValueOf(m))
			}
			return rv.Interface().(T), nil
		},
	}, nil
}

// list builds the Value of a slice of bare values from its wrapper message.
func list[T any, E any, W proto.Message](wrap func([]E) W, unwrap func(W) []E) (Value[T], error) {
	var w W
	mt := w.ProtoReflect().Type()
	return Value[T]{
		typeName: string(mt.Descriptor().FullName()),
		appendFn: func(b []byte, c Codec, v T) ([]byte, error) {
			return c.AppendPayload(b, wrap(any(v).([]E)))
		},
		unmarshalFn: func(b []byte, c Codec) (T, error) {
			m := mt.New().Interface().(W)
			err := c.UnmarshalPayload(b, m)
			return any(unwrap(m)).(T), err
		},
	}, nil
}

// scalar builds the Value of a bare value. The protobuf codec takes a fast
// path straight to protowire; other codecs go through the wrapper message.
func scalar[T any, E any, W proto.Message](
	w W,
	appendPB func([]byte, E) []byte,
	consumePB func([]byte, protowire.Type) (E, int),
	wrap func(E) W,
	unwrap func(W) E,
) (Value[T], error) {
	mt := w.ProtoReflect().Type()
	return Value[T]{
		typeName: string(mt.Descriptor().FullName()),
		appendFn: func(b []byte, c Codec, v T) ([]byte, error) {
			e := any(v).(E)
			if _, ok := c.(Protobuf); ok {
				return appendPB(b, e), nil
			}
			return c.AppendPayload(b, wrap(e))
		},
		unmarshalFn: func(b []byte, c Codec) (T, error) {
			if _, ok := c.(Protobuf); ok {
				e, err := consumeScalar(b, consumePB)
				return any(e).(T), err
			}
			m := mt.New().Interface().(W)
			err := c.UnmarshalPayload(b, m)
			return any(unwrap(m)).(T), err
		},
	}, nil
}

// consumeScalar decodes field 1 of a wrapper with protowire, keeping the
// last occurrence and skipping unknown fields, as protobuf-go does.
func consumeScalar[E any](b []byte, consume func([]byte, protowire.Type) (E, int)) (E, error) {
	var v E
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return v, fmt.Errorf("%w: %v", ErrMalformed, protowire.ParseError(n))
		}
		b = b[n:]
		if num == 1 {
			v, n = consume(b, typ)
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return v, fmt.Errorf("%w: wrapper field %d", ErrMalformed, num)
		}
		b = b[n:]
	}
	return v, nil
}

func appendZigZag32(b []byte, v int32) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	return protowire.AppendVarint(b, protowire.EncodeZigZag(int64(v)))
}

func appendZigZag64(b []byte, v int64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	return protowire.AppendVarint(b, protowire.EncodeZigZag(v))
}

func appendBool(b []byte, v bool) []byte {
	if !v {
		return b
	}
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	return protowire.AppendVarint(b, 1)
}

func appendString(b []byte, v string) []byte {
	if v == "" {
		return b
	}
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	return protowire.AppendString(b, v)
}

func consumeVarint(b []byte, typ protowire.Type) (uint64, int) {
	if typ != protowire.VarintType {
		return 0, -1
	}
	return protowire.ConsumeVarint(b)
}

func consumeZigZag32(b []byte, typ protowire.Type) (int32, int) {
	v, n := consumeVarint(b, typ)
	return int32(protowire.DecodeZigZag(v & 0xffffffff)), n
}

func consumeZigZag64(b []byte, typ protowire.Type) (int64, int) {
	v, n := consumeVarint(b, typ)
	return protowire.DecodeZigZag(v), n
}

func consumeBool(b []byte, typ protowire.Type) (bool, int) {
	v, n := consumeVarint(b, typ)
	return v != 0, n
}

func consumeString(b []byte, typ protowire.Type) (string, int) {
	if typ != protowire.BytesType {
		return "", -1
	}
	v, n := protowire.ConsumeBytes(b)
	return string(v), n
}

func wrapInt32(v int32) *iohao.IntValue        { return &iohao.IntValue{Value: v} }
func wrapInt64(v int64) *iohao.LongValue       { return &iohao.LongValue{Value: v} }
func wrapBool(v bool) *iohao.BoolValue         { return &iohao.BoolValue{Value: v} }
func wrapString(v string) *iohao.StringValue   { return &iohao.StringValue{Value: v} }
func unwrapInt32(w *iohao.IntValue) int32      { return w.GetValue() }
func unwrapInt64(w *iohao.LongValue) int64     { return w.GetValue() }
func unwrapBool(w *iohao.BoolValue) bool       { return w.GetValue() }
func unwrapString(w *iohao.StringValue) string { return w.GetValue() }
