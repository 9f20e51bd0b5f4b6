package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// DefaultMaxFrame is the default largest envelope accepted on a stream
// transport: 1 MiB.
const DefaultMaxFrame = 1 << 20

// FrameHeaderLen is the length of the big-endian length prefix of a frame.
const FrameHeaderLen = 4

// keepFrameBuf is the largest frame buffer a FrameReader keeps between calls.
const keepFrameBuf = 16 << 10

// ErrFrameTooLarge is returned, wrapped, for a frame longer than the limit.
var ErrFrameTooLarge = errors.New("wire: frame too large")

// AppendFrame appends a frame holding m, encoded by c, to b: a 4-byte
// big-endian length, then the envelope.
func AppendFrame(b []byte, c Codec, m *Message) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	b, err := c.AppendMessage(b, m)
	if err != nil {
		return b[:start], err
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-FrameHeaderLen))
	return b, nil
}

// FrameReader reads length-prefixed frames from a stream. It is not safe for
// concurrent use.
type FrameReader struct {
	r   *bufio.Reader
	max int
	buf []byte
}

// NewFrameReader returns a reader of frames of at most max bytes (0 means
// DefaultMaxFrame) from r, buffering reads.
func NewFrameReader(r io.Reader, max int) *FrameReader {
	if max <= 0 {
		max = DefaultMaxFrame
	}
	return &FrameReader{r: bufio.NewReaderSize(r, 4096), max: max}
}

// Next returns the next frame's envelope bytes, valid until the next call.
// It returns io.EOF at a clean end of stream, io.ErrUnexpectedEOF inside a
// frame, and ErrFrameTooLarge for a frame over the limit; after an error the
// stream is out of step and must be closed.
func (fr *FrameReader) Next() ([]byte, error) {
	var hdr [FrameHeaderLen]byte
	if _, err := io.ReadFull(fr.r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if uint64(n) > uint64(fr.max) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, fr.max)
	}
	if n > keepFrameBuf {
		// A rare large frame gets its own buffer, so that an idle connection
		// does not keep its largest frame's memory, and the buffer grows
		// only as the bytes arrive, so that a peer announcing a large frame
		// without sending it cannot make us hold the memory.
		return readGrowing(fr.r, int(n))
	}
	if cap(fr.buf) < int(n) {
		fr.buf = make([]byte, n, max(n, 512))
	}
	buf := fr.buf[:n]
	if _, err := io.ReadFull(fr.r, buf); err != nil {
		return nil, unexpected(err)
	}
	return buf, nil
}

// readGrowing reads exactly n bytes, doubling its buffer from keepFrameBuf
// as data arrives.
func readGrowing(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, keepFrameBuf)
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(n, 2*cap(buf))-len(buf))
		}
		m, err := io.ReadFull(r, buf[len(buf):min(n, cap(buf))])
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, unexpected(err)
		}
	}
	return buf, nil
}

// unexpected turns an end of stream inside a frame into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
