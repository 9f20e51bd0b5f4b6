package external

import (
	"crypto/tls"
	"net"
	"testing"

	"github.com/iogo-dev/iogo/pkg/wire"
)

// BenchmarkConnect measures a client's connection to the gate's TCP port,
// plain and over TLS (self-signed ECDSA P-256, TLS 1.3): dial, handshake,
// one heartbeat round trip, close. Client and gate share the machine, so
// ns/op is both sides' CPU.
func BenchmarkConnect(b *testing.B) {
	ns := runNATS(b)
	g := startGate(b, ns, func(c *Config) { c.TLSSelfSigned, c.WSAddr = true, "" })
	plainGate := startGate(b, ns, func(c *Config) { c.WSAddr = "" })
	frame, err := wire.AppendFrame(nil, wire.Protobuf{}, &wire.Message{CmdCode: wire.CmdHeartbeat, MsgID: 1})
	if err != nil {
		b.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		dial func() (net.Conn, error)
	}{
		{"tcp", func() (net.Conn, error) { return net.Dial("tcp", plainGate.TCPAddr().String()) }},
		{"tls", func() (net.Conn, error) {
			return tls.Dial("tcp", g.TCPAddr().String(), &tls.Config{InsecureSkipVerify: true})
		}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				conn, err := tt.dial()
				if err != nil {
					b.Fatal(err)
				}
				if _, err := conn.Write(frame); err != nil {
					b.Fatal(err)
				}
				if _, err := wire.NewFrameReader(conn, 1024).Next(); err != nil {
					b.Fatal(err)
				}
				_ = conn.Close()
			}
		})
	}
}
