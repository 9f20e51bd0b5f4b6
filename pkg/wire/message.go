package wire

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Values of Message.CmdCode.
const (
	CmdHeartbeat int32 = 0
	CmdBusiness  int32 = 1
)

// Field numbers of iohao.ExternalMessage.
const (
	fieldCmdCode        protowire.Number = 1
	fieldProtocolSwitch protowire.Number = 2
	fieldCmdMerge       protowire.Number = 3
	fieldStatus         protowire.Number = 4
	fieldValidMsg       protowire.Number = 5
	fieldData           protowire.Number = 6
	fieldMsgID          protowire.Number = 7
)

// ErrMalformed is returned, wrapped, for an envelope that is not a valid
// ExternalMessage.
var ErrMalformed = errors.New("wire: malformed message")

// Message is the envelope of every client frame (iohao.ExternalMessage).
type Message struct {
	CmdCode        int32  // CmdHeartbeat or CmdBusiness
	ProtocolSwitch int32  // reserved, 0
	CmdMerge       int32  // route: cmd<<16 | sub
	Status         int32  // 0 ok, else an error code
	ValidMsg       string // error text
	Data           []byte // payload in the connection's codec
	MsgID          int32  // client's correlation ID, echoed in the response
}

// Merge returns the merged route of cmd and sub: cmd<<16 | sub.
func Merge(cmd, sub int32) int32 { return cmd<<16 | sub&0xffff }

// Split returns the cmd and sub of a merged route.
func Split(merge int32) (cmd, sub int32) { return merge >> 16, merge & 0xffff }

// Cmd returns the cmd part of the route.
func (m *Message) Cmd() int32 { return m.CmdMerge >> 16 }

// Sub returns the subCmd part of the route.
func (m *Message) Sub() int32 { return m.CmdMerge & 0xffff }

// Size returns the length of m's protobuf encoding.
func (m *Message) Size() int {
	n := 0
	if m.CmdCode != 0 {
		n += 1 + protowire.SizeVarint(uint64(int64(m.CmdCode)))
	}
	if m.ProtocolSwitch != 0 {
		n += 1 + protowire.SizeVarint(uint64(int64(m.ProtocolSwitch)))
	}
	if m.CmdMerge != 0 {
		n += 1 + protowire.SizeVarint(uint64(int64(m.CmdMerge)))
	}
	if m.Status != 0 {
		n += 1 + protowire.SizeVarint(protowire.EncodeZigZag(int64(m.Status)))
	}
	if m.ValidMsg != "" {
		n += 1 + protowire.SizeBytes(len(m.ValidMsg))
	}
	if len(m.Data) != 0 {
		n += 1 + protowire.SizeBytes(len(m.Data))
	}
	if m.MsgID != 0 {
		n += 1 + protowire.SizeVarint(uint64(int64(m.MsgID)))
	}
	return n
}

// AppendProto appends the protobuf encoding of m to b, fields in number
// order and zero values omitted, exactly as protobuf-go encodes the
// equivalent iohao.ExternalMessage.
func (m *Message) AppendProto(b []byte) []byte {
	if m.CmdCode != 0 {
		b = protowire.AppendTag(b, fieldCmdCode, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(m.CmdCode)))
	}
	if m.ProtocolSwitch != 0 {
		b = protowire.AppendTag(b, fieldProtocolSwitch, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(m.ProtocolSwitch)))
	}
	if m.CmdMerge != 0 {
		b = protowire.AppendTag(b, fieldCmdMerge, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(m.CmdMerge)))
	}
	if m.Status != 0 {
		b = protowire.AppendTag(b, fieldStatus, protowire.VarintType)
		b = protowire.AppendVarint(b, protowire.EncodeZigZag(int64(m.Status)))
	}
	if m.ValidMsg != "" {
		b = protowire.AppendTag(b, fieldValidMsg, protowire.BytesType)
		b = protowire.AppendString(b, m.ValidMsg)
	}
	if len(m.Data) != 0 {
		b = protowire.AppendTag(b, fieldData, protowire.BytesType)
		b = protowire.AppendBytes(b, m.Data)
	}
	if m.MsgID != 0 {
		b = protowire.AppendTag(b, fieldMsgID, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(m.MsgID)))
	}
	return b
}

// UnmarshalProto decodes a protobuf ExternalMessage into m, replacing its
// contents. Unknown fields are skipped. m.Data aliases b.
func (m *Message) UnmarshalProto(b []byte) error {
	*m = Message{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %v", ErrMalformed, protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case typ == protowire.VarintType && num != fieldValidMsg && num != fieldData:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return fmt.Errorf("%w: field %d: %v", ErrMalformed, num, protowire.ParseError(n))
			}
			b = b[n:]
			switch num {
			case fieldCmdCode:
				m.CmdCode = int32(v)
			case fieldProtocolSwitch:
				m.ProtocolSwitch = int32(v)
			case fieldCmdMerge:
				m.CmdMerge = int32(v)
			case fieldStatus:
				m.Status = int32(protowire.DecodeZigZag(v & 0xffffffff))
			case fieldMsgID:
				m.MsgID = int32(v)
			}
		case typ == protowire.BytesType && (num == fieldValidMsg || num == fieldData):
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return fmt.Errorf("%w: field %d: %v", ErrMalformed, num, protowire.ParseError(n))
			}
			b = b[n:]
			if num == fieldValidMsg {
				m.ValidMsg = string(v)
			} else {
				m.Data = v
			}
		case num <= fieldMsgID:
			return fmt.Errorf("%w: field %d has wire type %d", ErrMalformed, num, typ)
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return fmt.Errorf("%w: field %d: %v", ErrMalformed, num, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	return nil
}
