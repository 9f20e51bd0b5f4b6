package external

import "sync"

// Buffers
//
// An idle connection should cost little more than its socket, so links
// keep no encode or decode buffer of their own between messages: a
// WebSocket link takes a buffer from bufs for one message read and gives
// it back before it waits for the next, and the WebSocket and TCP writers
// take one for each batch. The WebSocket library's own write buffer comes
// from a pool too (newWSApp). Under load a few buffers per core go round
// all the connections.

// keepBuf is the largest buffer put back in bufs: a rare large message
// gets a buffer of its own, which the garbage collector takes back.
const keepBuf = 64 << 10

// bufs holds byte buffers, as pointers so that Put does not allocate.
var bufs = sync.Pool{New: func() any {
	b := make([]byte, 0, 512)
	return &b
}}

func getBuf() *[]byte { return bufs.Get().(*[]byte) }

// putBuf gives b back to bufs unless it is too large to keep. Its contents
// must no longer be used.
func putBuf(b *[]byte) {
	if cap(*b) > keepBuf {
		return
	}
	*b = (*b)[:0]
	bufs.Put(b)
}
