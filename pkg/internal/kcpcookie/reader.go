package kcpcookie

import (
	"errors"
	"net"
	"os"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Reading in batches.
const (
	batchSize = 16
	// maxDatagram is the largest datagram read whole: more than a KCP
	// datagram (MTU 1400 by default) with its prefix.
	maxDatagram = 2048
)

// reader reads a UDP socket several datagrams per system call (recvmmsg
// on Linux), as kcp-go does on a bare *net.UDPConn, which neither the
// Guard nor a Conn hands it. One goroutine at a time may use it.
type reader struct {
	conn  *net.UDPConn
	batch interface {
		ReadBatch(ms []ipv4.Message, flags int) (int, error)
	} // nil where batched reads fail
	// msgs[next:count] are read and not yet returned.
	msgs        []ipv4.Message
	next, count int
}

func newReader(conn *net.UDPConn) reader {
	r := reader{conn: conn, msgs: make([]ipv4.Message, batchSize)}
	if la, ok := conn.LocalAddr().(*net.UDPAddr); ok && la.IP.To4() != nil {
		r.batch = ipv4.NewPacketConn(conn)
	} else {
		r.batch = ipv6.NewPacketConn(conn)
	}
	for i := range r.msgs {
		r.msgs[i].Buffers = [][]byte{make([]byte, maxDatagram)}
	}
	return r
}

// read returns the next datagram and its source (nil if unreadable). b is
// valid until the next read.
func (r *reader) read() (b []byte, from *net.UDPAddr, err error) {
	for r.next == r.count {
		if r.batch == nil {
			n, addr, err := r.conn.ReadFromUDP(r.msgs[0].Buffers[0])
			return r.msgs[0].Buffers[0][:n], addr, err
		}
		n, err := r.batch.ReadBatch(r.msgs, 0)
		if err != nil {
			var se *os.SyscallError
			if errors.As(err, &se) && se.Syscall == "recvmmsg" { // not in this kernel
				r.batch = nil
				continue
			}
			return nil, nil, err
		}
		r.next, r.count = 0, n
	}
	m := &r.msgs[r.next]
	r.next++
	from, _ = m.Addr.(*net.UDPAddr) // a fresh one per datagram
	return m.Buffers[0][:m.N], from, nil
}
