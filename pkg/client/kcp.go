package client

import (
	"context"
	"net"

	"github.com/iogo-dev/iogo/pkg/internal/kcpcookie"
	"github.com/xtaci/kcp-go/v5"
)

// kcpWindow is the send and receive window in segments, as on the gate.
const kcpWindow = 128

// dialKCP opens a KCP session to addr (host:port) in KCP's fast mode, with
// the gate's defaults: no FEC, no encryption, stream mode. Unless plain,
// it first proves the client's address to the gate with the cookie
// exchange (pkg/internal/kcpcookie), so it fails if the gate does not
// answer within ctx or 10 s; every datagram then carries the cookie. A
// plain session (a gate with KCPPlain) sends nothing until the first
// envelope, so only address resolution can fail then.
func dialKCP(ctx context.Context, addr string, plain bool) (*kcp.UDPSession, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var sess *kcp.UDPSession
	if plain {
		var err error
		if sess, err = kcp.DialWithOptions(addr, nil, 0, 0); err != nil {
			return nil, err
		}
	} else {
		raddr, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			return nil, err
		}
		network := "udp4"
		if raddr.IP.To4() == nil {
			network = "udp6"
		}
		uc, err := net.ListenUDP(network, nil)
		if err != nil {
			return nil, err
		}
		conv := kcpcookie.Conv()
		pc, err := kcpcookie.Handshake(ctx, uc, raddr, conv)
		if err != nil {
			_ = uc.Close()
			return nil, err
		}
		// The session owns pc, and closes it (and the socket) with itself.
		if sess, err = kcp.NewConn4(conv, raddr, nil, 0, 0, true, pc); err != nil {
			_ = pc.Close()
			return nil, err
		}
	}
	sess.SetStreamMode(true)
	sess.SetWriteDelay(false)
	sess.SetWindowSize(kcpWindow, kcpWindow)
	sess.SetNoDelay(1, 10, 2, 1)
	return sess, nil
}
