package external

import (
	"context"
	"testing"

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
