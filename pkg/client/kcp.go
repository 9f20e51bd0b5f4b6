package client

import (
	"context"

	"github.com/xtaci/kcp-go/v5"
)

// kcpWindow is the send and receive window in segments, as on the gate.
const kcpWindow = 128

// dialKCP opens a KCP session to addr (host:port) in KCP's fast mode, with
// the gate's defaults: no FEC, no encryption, stream mode. Nothing is sent
// until the first envelope, so only address resolution can fail here.
func dialKCP(ctx context.Context, addr string) (*kcp.UDPSession, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sess, err := kcp.DialWithOptions(addr, nil, 0, 0)
	if err != nil {
		return nil, err
	}
	sess.SetStreamMode(true)
	sess.SetWriteDelay(false)
	sess.SetWindowSize(kcpWindow, kcpWindow)
	sess.SetNoDelay(1, 10, 2, 1)
	return sess, nil
}
