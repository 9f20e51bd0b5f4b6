package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"github.com/iogo-dev/iogo/proto/iohao"
	"google.golang.org/protobuf/proto"
)

// The fuzz targets run their seed corpora in every go test run; explore
// with, from pkg/:
//
//	go test -run '^$' -fuzz FuzzFrameReader -fuzztime 60s ./wire/
//	go test -run '^$' -fuzz 'FuzzUnmarshalMessage$' -fuzztime 60s ./wire/
//	go test -run '^$' -fuzz FuzzUnmarshalMessageJSON -fuzztime 60s ./wire/

// goldenBytes returns the protobuf encodings of the golden vectors.
func goldenBytes(t testing.TB) [][]byte {
	var out [][]byte
	for _, g := range golden {
		b, err := hex.DecodeString(g.hex)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzFrameReader: the reader never panics, never returns a frame over its
// limit, returns frames that are exactly the input's length-prefixed
// records in order, fails only with the documented errors, and gives the
// same result whatever the chunking of the stream.
func FuzzFrameReader(f *testing.F) {
	var stream []byte
	for _, b := range goldenBytes(f) {
		f.Add(b, uint16(0))
		stream = binary.BigEndian.AppendUint32(stream, uint32(len(b)))
		stream = append(stream, b...)
	}
	f.Add(stream, uint16(0))
	f.Add(stream, uint16(8)) // some frames over the limit
	f.Add([]byte{0, 0, 0, 0}, uint16(1))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, uint16(0))
	f.Add([]byte{0, 0, 0, 5, 1, 2}, uint16(0))
	// A frame over the reader's kept buffer, cut short. (Seeds stay small:
	// the fuzzer minimizes what it finds, one exec per byte removed.)
	f.Add(append(binary.BigEndian.AppendUint32(nil, 20<<10), 1, 2, 3), uint16(0))

	f.Fuzz(func(t *testing.T, data []byte, limit uint16) {
		max := int(limit)
		effective := max
		if effective == 0 {
			effective = DefaultMaxFrame
		}
		whole := readAll(t, NewFrameReader(bytes.NewReader(data), max), effective)
		split := readAll(t, NewFrameReader(&oneByteReader{b: data}, max), effective)
		if !errors.Is(whole.err, split.err) && whole.err.Error() != split.err.Error() {
			t.Fatalf("errors differ with chunking: %v vs %v", whole.err, split.err)
		}
		if len(whole.frames) != len(split.frames) {
			t.Fatalf("%d frames whole, %d byte by byte", len(whole.frames), len(split.frames))
		}
		// The frames are the input's records, in order, from the start.
		rest := data
		for i, fr := range whole.frames {
			if !bytes.Equal(fr, split.frames[i]) {
				t.Fatalf("frame %d differs with chunking", i)
			}
			if len(rest) < FrameHeaderLen+len(fr) ||
				binary.BigEndian.Uint32(rest) != uint32(len(fr)) ||
				!bytes.Equal(rest[FrameHeaderLen:FrameHeaderLen+len(fr)], fr) {
				t.Fatalf("frame %d is not the input's next record", i)
			}
			rest = rest[FrameHeaderLen+len(fr):]
		}
		// Why it stopped must match what is left.
		switch {
		case len(rest) == 0:
			if whole.err != io.EOF {
				t.Fatalf("at the end of input: %v, want io.EOF", whole.err)
			}
		case len(rest) < FrameHeaderLen:
			if !errors.Is(whole.err, io.ErrUnexpectedEOF) {
				t.Fatalf("truncated header: %v", whole.err)
			}
		case uint64(binary.BigEndian.Uint32(rest)) > uint64(effective):
			if !errors.Is(whole.err, ErrFrameTooLarge) {
				t.Fatalf("oversize frame: %v", whole.err)
			}
		default:
			if !errors.Is(whole.err, io.ErrUnexpectedEOF) {
				t.Fatalf("truncated frame: %v", whole.err)
			}
		}
	})
}

type framesRead struct {
	frames [][]byte
	err    error
}

// readAll reads frames until an error, copying each (the reader reuses its
// buffer) and checking it against the limit.
func readAll(t *testing.T, fr *FrameReader, limit int) framesRead {
	var out framesRead
	for {
		b, err := fr.Next()
		if err != nil {
			out.err = err
			return out
		}
		if len(b) > limit {
			t.Fatalf("frame of %d bytes, limit %d", len(b), limit)
		}
		out.frames = append(out.frames, bytes.Clone(b))
	}
}

// FuzzUnmarshalMessage: the protobuf envelope decoder never panics; what
// it accepts re-encodes to a canonical form that decodes to the same
// message and re-encodes identically; and where protobuf-go's generated
// decoder accepts the same bytes, both agree on every field.
func FuzzUnmarshalMessage(f *testing.F) {
	for _, b := range goldenBytes(f) {
		f.Add(b)
	}
	for _, h := range []string{"80", "08ff", "3205aa", "3001", "0a0100", "0001", "52ffff",
		"7801" + "8201027a7a" + "3805", "2a02c328", "3800" + "3801"} {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if err := m.UnmarshalProto(b); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		enc := m.AppendProto(nil)
		if len(enc) != m.Size() {
			t.Fatalf("Size %d, encoding %d bytes", m.Size(), len(enc))
		}
		var back Message
		if err := back.UnmarshalProto(enc); err != nil {
			t.Fatalf("re-encoding %x does not decode: %v", enc, err)
		}
		assertEqual(t, back, m)
		if again := back.AppendProto(nil); !bytes.Equal(again, enc) {
			t.Fatalf("encoding is not stable: %x then %x", enc, again)
		}
		var pm iohao.ExternalMessage
		if proto.Unmarshal(b, &pm) == nil {
			gen := Message{CmdCode: pm.CmdCode, ProtocolSwitch: pm.GetProtocolSwitch(), CmdMerge: pm.CmdMerge,
				Status: pm.ResponseStatus, ValidMsg: pm.GetValidMsg(), Data: pm.Data, MsgID: pm.MsgId}
			assertEqual(t, m, gen)
		}
	})
}

// FuzzUnmarshalMessageJSON: the JSON envelope decoder never panics, and
// what it accepts re-encodes to JSON that decodes to the same message.
func FuzzUnmarshalMessageJSON(f *testing.F) {
	var c JSON
	for _, g := range golden {
		b, err := c.AppendMessage(nil, &g.msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{`{}`, `{"cmdCode":1,"cmdMerge":65537,"data":"aGk=","msgId":3}`,
		`{"cmd_code":"1","responseStatus":-1004,"validMsg":"x","unknown":[1,{}]}`,
		`{"data":"not base64!"}`, `{"msgId":1e40}`, `{not json`, `[]`, `null`, `{"validMsg":"\ud800"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if err := c.UnmarshalMessage(b, &m); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		enc, err := c.AppendMessage(nil, &m)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", m, err)
		}
		var back Message
		if err := c.UnmarshalMessage(enc, &back); err != nil {
			t.Fatalf("re-encoding %s does not decode: %v", enc, err)
		}
		assertEqual(t, back, m)
		// The same message in protobuf survives too.
		var viaProto Message
		if err := viaProto.UnmarshalProto(m.AppendProto(nil)); err != nil {
			t.Fatal(err)
		}
		assertEqual(t, viaProto, m)
	})
}
