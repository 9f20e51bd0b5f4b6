package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/iogo-dev/iogo/proto/iohao"
	"google.golang.org/protobuf/proto"
)

func TestCodecFor(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"default", "", NameProtobuf, true},
		{"protobuf", "protobuf", NameProtobuf, true},
		{"json", "json", NameJSON, true},
		{"unknown", "xml", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := CodecFor(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v", err)
			}
			if tt.ok && c.Name() != tt.want {
				t.Fatalf("Name = %q, want %q", c.Name(), tt.want)
			}
		})
	}
}

func TestCodecMessageRoundTrip(t *testing.T) {
	for _, c := range []Codec{Protobuf{}, JSON{}} {
		for _, tt := range golden {
			t.Run(c.Name()+"/"+tt.name, func(t *testing.T) {
				b, err := c.AppendMessage([]byte("prefix"), &tt.msg)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.HasPrefix(b, []byte("prefix")) {
					t.Fatal("AppendMessage must append")
				}
				var m Message
				if err := c.UnmarshalMessage(b[len("prefix"):], &m); err != nil {
					t.Fatal(err)
				}
				assertEqual(t, m, tt.msg)
			})
		}
	}
}

func TestJSONEnvelopeIsProtoJSON(t *testing.T) {
	b, err := JSON{}.AppendMessage(nil, &Message{CmdCode: 1, CmdMerge: 65536, Status: -1004, Data: []byte(`{"a":1}`), MsgID: 7})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"cmdCode":1`, `"cmdMerge":65536`, `"responseStatus":-1004`, `"msgId":7`, `"data":"eyJhIjoxfQ=="`} {
		if !strings.Contains(strings.ReplaceAll(string(b), " ", ""), want) {
			t.Fatalf("%s lacks %s", b, want)
		}
	}
}

func TestCodecMalformed(t *testing.T) {
	tests := []struct {
		name    string
		c       Codec
		in      string
		payload string
	}{
		{"protobuf garbage", Protobuf{}, "\xff\xff\xff", "\xff\xff\xff"},
		{"json garbage", JSON{}, "{not json", "{not json"},
		{"json wrong type", JSON{}, `{"cmdCode":"x"}`, `{"value":5}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Message
			if err := tt.c.UnmarshalMessage([]byte(tt.in), &m); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if err := tt.c.UnmarshalPayload([]byte(tt.payload), &iohao.StringValue{}); !errors.Is(err, ErrMalformed) {
				t.Fatalf("payload err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestFrames(t *testing.T) {
	var stream []byte
	var err error
	for _, tt := range golden {
		if stream, err = AppendFrame(stream, Protobuf{}, &tt.msg); err != nil {
			t.Fatal(err)
		}
	}
	// Read one byte at a time to exercise partial reads.
	fr := NewFrameReader(iotestOneByte(stream), 0)
	for _, tt := range golden {
		b, err := fr.Next()
		if err != nil {
			t.Fatal(err)
		}
		var m Message
		if err := m.UnmarshalProto(b); err != nil {
			t.Fatal(err)
		}
		assertEqual(t, m, tt.msg)
	}
	if _, err := fr.Next(); err != io.EOF {
		t.Fatalf("at end: %v, want io.EOF", err)
	}
}

func TestFrameErrors(t *testing.T) {
	big := binary.BigEndian.AppendUint32(nil, 101)
	tests := []struct {
		name string
		in   []byte
		max  int
		want error
	}{
		{"too large", append(big, make([]byte, 101)...), 100, ErrFrameTooLarge},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff}, 0, ErrFrameTooLarge},
		{"truncated header", []byte{0, 0}, 0, io.ErrUnexpectedEOF},
		{"truncated body", []byte{0, 0, 0, 5, 1, 2}, 0, io.ErrUnexpectedEOF},
		{"empty stream", nil, 0, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewFrameReader(bytes.NewReader(tt.in), tt.max).Next()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestFrameLargeThenSmall(t *testing.T) {
	large := Message{CmdCode: 1, Data: bytes.Repeat([]byte{7}, 100<<10)}
	small := Message{CmdCode: 1, Data: []byte("s")}
	b, _ := AppendFrame(nil, Protobuf{}, &large)
	b, _ = AppendFrame(b, Protobuf{}, &small)
	fr := NewFrameReader(bytes.NewReader(b), 0)
	for _, want := range []Message{large, small} {
		got, err := fr.Next()
		if err != nil {
			t.Fatal(err)
		}
		var m Message
		if err := m.UnmarshalProto(got); err != nil {
			t.Fatal(err)
		}
		assertEqual(t, m, want)
	}
	if cap(fr.buf) > keepFrameBuf {
		t.Fatalf("reader keeps a %d-byte buffer after a large frame", cap(fr.buf))
	}
}

type oneByteReader struct{ b []byte }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.b[0]
	r.b = r.b[1:]
	return 1, nil
}

func iotestOneByte(b []byte) io.Reader { return &oneByteReader{b: b} }

func BenchmarkEnvelopeEncode(b *testing.B) {
	m := Message{CmdCode: 1, CmdMerge: 1 << 16, Data: []byte("hello, world; a small payload"), MsgID: 7}
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		buf = m.AppendProto(buf[:0])
	}
}

func BenchmarkEnvelopeDecode(b *testing.B) {
	m := Message{CmdCode: 1, CmdMerge: 1 << 16, Data: []byte("hello, world; a small payload"), MsgID: 7}
	enc := m.AppendProto(nil)
	var out Message
	b.ReportAllocs()
	for b.Loop() {
		if err := out.UnmarshalProto(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEnvelopeGenerated is protobuf-go on the same message, for comparison.
func BenchmarkEnvelopeGenerated(b *testing.B) {
	m := Message{CmdCode: 1, CmdMerge: 1 << 16, Data: []byte("hello, world; a small payload"), MsgID: 7}
	pm := toProto(&m)
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = proto.MarshalOptions{}.MarshalAppend(buf[:0], pm)
		if err != nil {
			b.Fatal(err)
		}
		var out iohao.ExternalMessage
		if err := proto.Unmarshal(buf, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFrameAnnouncedButNotSent: a peer that announces a maximum-size frame
// and sends only a few bytes makes the reader allocate little, not the
// announced size.
func TestFrameAnnouncedButNotSent(t *testing.T) {
	in := binary.BigEndian.AppendUint32(nil, DefaultMaxFrame)
	in = append(in, 1, 2, 3)
	fr := NewFrameReader(bytes.NewReader(in), 0)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := fr.Next()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew >= DefaultMaxFrame/4 {
		t.Fatalf("reader allocated %d bytes for a frame that never came", grew)
	}
}
