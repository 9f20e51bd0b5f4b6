package external

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/nats-io/nats.go"
)

// BenchmarkRoundTrip measures a request from a client through the gate and
// NATS to an echo responder and back, everything in one process (the gate
// and the responder on in-process NATS connections, the client over
// loopback).
func BenchmarkRoundTrip(b *testing.B) {
	ns := runNATS(b)
	inproc := func() *nats.Conn {
		nc, err := nats.Connect("", nats.InProcessServer(ns))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(nc.Close)
		return nc
	}
	respond(b, inproc(), 1, 1, echo)
	gateConn := inproc()
	g := startGate(b, ns, func(c *Config) { c.Brokers, c.Conn, c.RateLimit = nil, gateConn, -1 })
	payload := make([]byte, 32)

	for _, tt := range []struct{ name, url string }{
		{"tcp", tcpURL(g)},
		{"ws", wsURL(g)},
	} {
		b.Run(tt.name, func(b *testing.B) {
			c := dialT(b, tt.url)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Request(ctx, 1, 1, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tt.name+"/pipelined", func(b *testing.B) {
			c := dialT(b, tt.url)
			ctx := context.Background()
			b.ReportAllocs()
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Request(ctx, 1, 1, payload); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// discardLink is a link whose writes succeed at once; each write sends
// its number of envelopes on written.
type discardLink struct {
	written chan int
	closed  chan struct{}
	once    sync.Once
}

func (l *discardLink) read() ([]byte, error) { <-l.closed; return nil, io.EOF }
func (l *discardLink) write(msgs []wire.Message) (int, error) {
	l.written <- len(msgs)
	return len(msgs), nil
}
func (l *discardLink) goodbye() {}
func (l *discardLink) close()   { l.once.Do(func() { close(l.closed) }) }

// BenchmarkSessionSend measures handing envelopes to a session's writer:
// one at a time, each written before the next is queued (the writer
// starts and ends each time, as for a client with one request in flight),
// and in bursts of 16 queued at once.
func BenchmarkSessionSend(b *testing.B) {
	srv, err := New(Config{TCPAddr: "127.0.0.1:0", Logger: testLogger()})
	if err != nil {
		b.Fatal(err)
	}
	for _, burst := range []int{1, 16} {
		b.Run(fmt.Sprintf("burst=%d", burst), func(b *testing.B) {
			l := &discardLink{written: make(chan int, 16), closed: make(chan struct{})}
			s := newSession(srv, 1, wire.Protobuf{}, l, "fake", "test")
			b.Cleanup(func() {
				s.closeWith(abort)
				<-s.writerDone
			})
			m := wire.Message{CmdCode: wire.CmdBusiness, MsgID: 1}
			b.ReportAllocs()
			for b.Loop() {
				for range burst {
					s.send(m)
				}
				for n := 0; n < burst; {
					n += <-l.written
				}
			}
		})
	}
}
