package wire

import (
	"fmt"

	"github.com/iogo-dev/iogo/proto/iohao"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Codec names, as used in configuration, in the WebSocket query
// (?codec=json) and in the fabric's codec header.
const (
	NameProtobuf = "protobuf"
	NameJSON     = "json"
)

// A Codec encodes envelopes and business payloads for one connection. The
// payload codec of a connection always matches its envelope codec.
type Codec interface {
	// Name is NameProtobuf or NameJSON.
	Name() string
	// AppendMessage appends the encoding of m to b.
	AppendMessage(b []byte, m *Message) ([]byte, error)
	// UnmarshalMessage decodes an envelope into m. m.Data may alias b.
	UnmarshalMessage(b []byte, m *Message) error
	// AppendPayload appends the encoding of a business message to b.
	AppendPayload(b []byte, v proto.Message) ([]byte, error)
	// UnmarshalPayload decodes a business message. Empty input leaves v
	// at its zero value.
	UnmarshalPayload(b []byte, v proto.Message) error
}

// CodecFor returns the codec with the given name; "" means protobuf.
func CodecFor(name string) (Codec, error) {
	switch name {
	case "", NameProtobuf:
		return Protobuf{}, nil
	case NameJSON:
		return JSON{}, nil
	}
	return nil, fmt.Errorf("wire: unknown codec %q", name)
}

// Protobuf is the default codec: binary protobuf, the hand-written envelope
// codec and protobuf-go for payloads.
type Protobuf struct{}

// Name implements Codec.
func (Protobuf) Name() string { return NameProtobuf }

// AppendMessage implements Codec.
func (Protobuf) AppendMessage(b []byte, m *Message) ([]byte, error) { return m.AppendProto(b), nil }

// UnmarshalMessage implements Codec.
func (Protobuf) UnmarshalMessage(b []byte, m *Message) error { return m.UnmarshalProto(b) }

// AppendPayload implements Codec.
func (Protobuf) AppendPayload(b []byte, v proto.Message) ([]byte, error) {
	return proto.MarshalOptions{}.MarshalAppend(b, v)
}

// UnmarshalPayload implements Codec.
func (Protobuf) UnmarshalPayload(b []byte, v proto.Message) error {
	if err := (proto.UnmarshalOptions{}).Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// JSON is the protojson form of the same messages, for clients that prefer
// text. The envelope's data field holds the payload's JSON text (base64, as
// protojson encodes bytes).
type JSON struct{}

// Name implements Codec.
func (JSON) Name() string { return NameJSON }

// AppendMessage implements Codec.
func (JSON) AppendMessage(b []byte, m *Message) ([]byte, error) {
	return protojson.MarshalOptions{}.MarshalAppend(b, toProto(m))
}

// UnmarshalMessage implements Codec.
func (JSON) UnmarshalMessage(b []byte, m *Message) error {
	var pm iohao.ExternalMessage
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, &pm); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	*m = Message{
		CmdCode:        pm.CmdCode,
		ProtocolSwitch: pm.GetProtocolSwitch(),
		CmdMerge:       pm.CmdMerge,
		Status:         pm.ResponseStatus,
		ValidMsg:       pm.GetValidMsg(),
		Data:           pm.Data,
		MsgID:          pm.MsgId,
	}
	return nil
}

// AppendPayload implements Codec.
func (JSON) AppendPayload(b []byte, v proto.Message) ([]byte, error) {
	return protojson.MarshalOptions{}.MarshalAppend(b, v)
}

// UnmarshalPayload implements Codec.
func (JSON) UnmarshalPayload(b []byte, v proto.Message) error {
	if len(b) == 0 {
		return nil
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// toProto converts m to the generated message, with optional fields present
// only when set, matching AppendProto.
func toProto(m *Message) *iohao.ExternalMessage {
	pm := &iohao.ExternalMessage{
		CmdCode:        m.CmdCode,
		CmdMerge:       m.CmdMerge,
		ResponseStatus: m.Status,
		MsgId:          m.MsgID,
	}
	if m.ProtocolSwitch != 0 {
		pm.ProtocolSwitch = proto.Int32(m.ProtocolSwitch)
	}
	if m.ValidMsg != "" {
		pm.ValidMsg = proto.String(m.ValidMsg)
	}
	if len(m.Data) != 0 {
		pm.Data = m.Data
	}
	return pm
}
