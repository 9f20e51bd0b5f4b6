// Package kcpcookie is the address check in front of iogo's KCP transport:
// a stateless cookie exchange, like QUIC's Retry or DTLS's
// HelloVerifyRequest, that a client completes before the gate's KCP
// listener (xtaci/kcp-go) sees any of its datagrams.
//
// kcp-go's listener creates a session, and answers with retransmitted
// segments, for any datagram from a new address; and a datagram from a
// known address with another conversation ID and sequence number 0
// replaces that address's session. Over UDP the source address is not
// proven, so the first makes the gate a reflection amplifier and the
// second lets anyone cut a player off with one forged datagram. The Guard
// wraps the gate's UDP socket and hands kcp-go only datagrams whose source
// has proven it receives at its address:
//
//	client                                 gate (Guard)
//	HELLO  (64 bytes: conv, nonce)   ->    no state; answers with
//	                                 <-    COOKIE (33 bytes: conv, nonce, ts, MAC)
//	DATA   (13-byte prefix + KCP)    ->    MAC(addr, conv, ts) checked, then
//	                                       the KCP datagram goes to kcp-go
//
// The MAC is HMAC-SHA256, truncated to 8 bytes, over the client's address
// and port, the KCP conversation ID and the cookie's timestamp, under a
// secret key that the Guard replaces every KeyPeriod (the previous key is
// still accepted). A cookie admits a new (address, conversation) pair only
// while it is at most MaxAge old; once admitted, the pair keeps working
// with the same cookie until the session ends (Forget) or goes quiet.
// Datagrams from the gate to the client are plain KCP.
//
// An unproven address thus gets at most one COOKIE, smaller than the HELLO
// it answers, per HELLO; a forged datagram for a live player's address
// needs that player's cookie, which an off-path attacker never sees.
//
// Packet formats (version 1; integers big-endian unless marked LE):
//
//	HELLO   0xA1 "iogokcp" 0x01 conv(LE 4) nonce(8) zero padding: at least 64 bytes
//	COOKIE  0xA2 "iogokcp" 0x01 conv(LE 4) nonce(8) ts(4) mac(8): 33 bytes
//	DATA    0xA3 ts(4) mac(8) KCP datagram (its first 4 bytes are conv, LE)
//
// ts is Unix seconds. Anything else the Guard receives is dropped and
// counted. The Guard's ReadFrom is meant for one reader (kcp-go's listener
// loop); Forget, Stats and WriteTo are safe from any goroutine. A Conn
// (client side) is used by one kcp-go session.
package kcpcookie
