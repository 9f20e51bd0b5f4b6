// Package client is the Go client SDK of iogo: it connects to an external
// server over WebSocket, TCP or KCP and speaks the ioGame envelope protocol.
// Tests, the load simulator and the CLI use it.
//
//	c, err := client.Dial(ctx, "ws://127.0.0.1:10100/websocket")
//	...
//	defer c.Close()
//	user, err := client.Call[*pb.LoginVerify, *pb.User](ctx, c, 1, 0, &pb.LoginVerify{...})
//
// # Concurrency
//
// A Client is safe for concurrent use. Requests are pipelined: each gets a
// fresh MsgID and any number may be in flight; responses are matched by
// MsgID, in whatever order they arrive. One goroutine reads the connection;
// writes are made by the calling goroutine under a mutex, one write per
// envelope. Close stops the reader and fails the requests in flight; no
// goroutine outlives Close.
//
// # Pushes
//
// Envelopes with MsgID 0 are pushes. They are delivered in arrival order on
// the channel returned by Pushes, buffered (WithPushBuffer); when the
// buffer is full a push is dropped and counted (DroppedPushes) rather than
// stalling responses. The channel is closed when the connection ends.
//
// # Heartbeats and notices
//
// A gate closes a connection that sends nothing for its idle timeout (60 s
// by default), after an envelope with CmdCode 0, MsgID 0 and status -1003.
// WithHeartbeat keeps a quiet connection open. Such an error envelope with
// MsgID 0 is delivered on Pushes like any other, and the error that Err
// reports once the connection ends wraps it as an *errs.Error.
//
// # KCP
//
// kcp://host:port runs KCP over UDP. Dial first proves the client's
// address to the gate with a cookie exchange (a HELLO padded to 64 bytes,
// a 33-byte COOKIE back; docs/wire-protocol.md), resending the HELLO until
// the gate answers, ctx ends or 10 s pass; every datagram then carries the
// 13-byte cookie. The session opens on the gate with the first envelope,
// which must come within the gate's handshake timeout (10 s by default).
// kcp://host:port?plain=true speaks plain KCP, for a gate run with
// -kcp-plain.
package client
