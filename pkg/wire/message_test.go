package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/iogo-dev/iogo/proto/iohao"
	"google.golang.org/protobuf/proto"
)

// Golden vectors written by hand from the protobuf encoding rules, not
// produced by any encoder under test.
var golden = []struct {
	name string
	msg  Message
	hex  string
}{
	{
		// cmd_code=1: tag 08, varint 01
		// cmd_merge=1<<16|0=65536: tag 18, varint 80 80 04
		// data="hi": tag 32, length 02, 68 69
		// msg_id=7: tag 38, varint 07
		name: "request cmd 1 sub 0 msgId 7 data hi",
		msg:  Message{CmdCode: 1, CmdMerge: 1 << 16, Data: []byte("hi"), MsgID: 7},
		hex:  "0801" + "18808004" + "32026869" + "3807",
	},
	{
		// response_status=-1004, sint32: zigzag 2007 = varint d7 0f, tag 20
		// valid_msg="login required": tag 2a, length 0e, text
		name: "error response status -1004",
		msg:  Message{CmdCode: 1, CmdMerge: 1 << 16, Status: -1004, ValidMsg: "login required", MsgID: 7},
		hex:  "0801" + "18808004" + "20d70f" + "2a0e" + hex.EncodeToString([]byte("login required")) + "3807",
	},
	{
		name: "heartbeat",
		msg:  Message{CmdCode: 0, MsgID: 3},
		hex:  "3803",
	},
	{
		// cmd_merge=3<<16|4=196612: varint 84 80 0c; negative int32 fields
		// are 10-byte varints in protobuf
		name: "negative msg id and protocol switch",
		msg:  Message{CmdCode: 1, ProtocolSwitch: 2, CmdMerge: 3<<16 | 4, MsgID: -1},
		hex:  "0801" + "1002" + "18" + "84800c" + "38ffffffffffffffffff01",
	},
}

func TestGoldenVectors(t *testing.T) {
	for _, tt := range golden {
		t.Run(tt.name, func(t *testing.T) {
			want, err := hex.DecodeString(tt.hex)
			if err != nil {
				t.Fatal(err)
			}
			got := tt.msg.AppendProto(nil)
			if !bytes.Equal(got, want) {
				t.Fatalf("AppendProto = %x, want %x", got, want)
			}
			if n := tt.msg.Size(); n != len(want) {
				t.Fatalf("Size = %d, want %d", n, len(want))
			}
			// The generated code must agree byte for byte.
			gen, err := proto.MarshalOptions{Deterministic: true}.Marshal(toProto(&tt.msg))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(gen, want) {
				t.Fatalf("protobuf-go = %x, want %x", gen, want)
			}
			var back Message
			if err := back.UnmarshalProto(want); err != nil {
				t.Fatal(err)
			}
			assertEqual(t, back, tt.msg)
		})
	}
}

func TestUnmarshalFromGenerated(t *testing.T) {
	tests := []struct {
		name string
		pm   *iohao.ExternalMessage
		want Message
	}{
		{"empty", &iohao.ExternalMessage{}, Message{}},
		{"present but empty data", &iohao.ExternalMessage{CmdCode: 1, Data: []byte{}}, Message{CmdCode: 1}},
		{"all fields", &iohao.ExternalMessage{
			CmdCode: 1, ProtocolSwitch: proto.Int32(9), CmdMerge: 0x7fff_ffff, ResponseStatus: -2147483648,
			ValidMsg: proto.String("x"), Data: []byte{0, 1, 2}, MsgId: 2147483647,
		}, Message{CmdCode: 1, ProtocolSwitch: 9, CmdMerge: 0x7fff_ffff, Status: -2147483648, ValidMsg: "x", Data: []byte{0, 1, 2}, MsgID: 2147483647}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := proto.Marshal(tt.pm)
			if err != nil {
				t.Fatal(err)
			}
			var m Message
			if err := m.UnmarshalProto(b); err != nil {
				t.Fatal(err)
			}
			assertEqual(t, m, tt.want)
		})
	}
}

func TestUnmarshalMalformed(t *testing.T) {
	tests := []struct {
		name string
		hex  string
	}{
		{"truncated tag", "80"},
		{"truncated varint", "08ff"},
		{"bytes past end", "3205aa"},
		{"wrong wire type for data", "3001"},
		{"wrong wire type for cmd_code", "0a0100"},
		{"field number zero", "0001"},
		{"unknown field truncated", "52ffff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := hex.DecodeString(tt.hex)
			var m Message
			if err := m.UnmarshalProto(b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestUnknownFieldsSkipped(t *testing.T) {
	// field 15 varint 1, field 16 bytes "zz", then msg_id 5
	b, _ := hex.DecodeString("7801" + "8201027a7a" + "3805")
	var m Message
	if err := m.UnmarshalProto(b); err != nil {
		t.Fatal(err)
	}
	if m.MsgID != 5 {
		t.Fatalf("MsgID = %d, want 5", m.MsgID)
	}
}

func TestMergeSplit(t *testing.T) {
	tests := []struct{ cmd, sub int32 }{{0, 0}, {1, 0}, {1, 65535}, {32767, 1}, {300, 12}}
	for _, tt := range tests {
		m := Merge(tt.cmd, tt.sub)
		if c, s := Split(m); c != tt.cmd || s != tt.sub {
			t.Fatalf("Split(Merge(%d,%d)) = %d,%d", tt.cmd, tt.sub, c, s)
		}
		msg := Message{CmdMerge: m}
		if msg.Cmd() != tt.cmd || msg.Sub() != tt.sub {
			t.Fatalf("Cmd/Sub of %d = %d,%d", m, msg.Cmd(), msg.Sub())
		}
	}
}

func assertEqual(t *testing.T, got, want Message) {
	t.Helper()
	if got.CmdCode != want.CmdCode || got.ProtocolSwitch != want.ProtocolSwitch || got.CmdMerge != want.CmdMerge ||
		got.Status != want.Status || got.ValidMsg != want.ValidMsg || !bytes.Equal(got.Data, want.Data) || got.MsgID != want.MsgID {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}
