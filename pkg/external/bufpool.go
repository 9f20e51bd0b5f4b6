package external

import "sync"

// Buffers
//
// An idle connection should cost little more than its socket, so links
// keep no encode or decode buffer of their own between messages: a
// WebSocket link takes a buffer from the server's bufPool for one message
// read and gives it back before it waits for the next, and the WebSocket
// and TCP writers take one for each batch. The WebSocket library's own write buffer comes
// from a pool too (newWSApp). Under load a few buffers per core go round
// all the connections.

// keepBuf is the largest buffer put back in a bufPool: a rare large message
// gets a buffer of its own, which the garbage collector takes back.
const keepBuf = 64 << 10

// bufPool holds byte buffers, as pointers so that Put does not allocate.
// Each server has one (Server.bufs); its links share it.
type bufPool struct{ p sync.Pool }

// get returns an empty buffer.
func (bp *bufPool) get() *[]byte {
	if b, ok := bp.p.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 512)
	return &b
}

// put gives b back unless it is too large to keep. Its contents must no
// longer be used.
func (bp *bufPool) put(b *[]byte) {
	if cap(*b) > keepBuf {
		return
	}
	*b = (*b)[:0]
	bp.p.Put(b)
}
