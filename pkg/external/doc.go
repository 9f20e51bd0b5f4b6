// Package external is the external server (gate) of iogo: it holds game
// clients' connections over WebSocket, TCP and KCP, forwards their
// requests to logic servers over NATS, and relays replies and pushes back.
//
// # Transports
//
// WebSocket carries one envelope per message. TCP and KCP (reliable UDP,
// xtaci/kcp-go, without FEC or encryption) carry a stream of frames, each
// a 4-byte big-endian length and the envelope, and share one session code
// path. Config.MaxFrame bounds an envelope on all three: a longer one (a
// WebSocket message counts whole, however fragmented) closes that
// connection only, as does a malformed envelope. KCP itself has no
// connection handshake, so, unless Config.KCPPlain, a client first proves
// its address with a stateless cookie exchange (two datagrams, the answer
// smaller than the request) and every datagram it sends carries the
// cookie: the gate answers nothing else and no spoofed datagram reaches
// kcp-go (see kcp.go). A KCP session begins with the client's first
// admitted datagram, must send a whole envelope within
// Config.HandshakeTimeout, and a client that vanishes later is noticed by
// the idle timeout alone.
//
// # The edge: handshakes, addresses, proxies
//
// Before a connection becomes a session it must finish its handshake
// within Config.HandshakeTimeout (10 s by default): the whole WebSocket
// upgrade request, or a complete first TCP or KCP frame; otherwise it is
// closed without a reply. Config.MaxConnsPerAddr bounds the connections of
// one client address (an IPv6 /64), all transports together, from accept
// on (for KCP, from its first datagram with a valid cookie).
// Config.TrustedProxies names the proxies whose PROXY protocol header (TCP
// and WebSocket ports) or X-Forwarded-For / X-Real-IP (WebSocket) gives
// the client's real address: the session's fabric.AttrIP, the one in the
// logs and the one the limit counts. A PROXY header from any other address
// closes the connection. Refusals and handshake timeouts are counted
// (Prometheus, Config.MetricsAddr) and logged, at most once per 10 s per
// kind. See edge.go, conns.go and proxy.go.
//
// # Idle timeout and rate limit
//
// A connection that sends no whole frame (heartbeat or request; on
// WebSocket, a ping also counts) for Config.IdleTimeout gets an envelope
// with CmdCode 0, MsgID 0 and status errs.CodeIdleTimeout (-1003), as
// ioGame's gate sends, and is closed once it has been written. The timeout
// is the connection's read deadline, pushed back before each frame: no
// timer or goroutine exists per connection for it.
//
// Each connection has a token bucket (Config.RateLimit, Config.RateBurst)
// for everything but heartbeats. An envelope over it is answered at once
// with ErrRateLimited (-1000 "rate limited", same CmdCode, route and
// MsgID), is not forwarded, and the connection stays open. A second bucket,
// Config.RateCeiling (10 × the limit by default), closes a connection that
// keeps sending far over the limit regardless.
//
// # Routes and access
//
// At start the gate opens the route registry (package registry) and keeps
// a live registry.View of the routes served in the cluster; it checks each
// business request against it without I/O. A route no live instance serves
// is answered with errs.CodeRouteNotFound (-1002) at once, without a
// broker round trip, as is an internal route: clients cannot tell it from
// a missing one. A login route (the default) on a session not logged in
// gets errs.CodeLoginRequired (-1004); a public route is open to all.
// Access overrides (registry.Registry.SetAccess) and logic servers that
// come and go change the view within moments and never drop a connection.
//
// # Requests
//
// A business envelope (CmdCode 1) is published to fabric.Request(cmd, sub)
// with the payload untouched as the body, fabric.Meta as headers (the
// session's attributes in fabric.HeaderAttrs) and a reply subject
// fabric.GateReply(gateID, token). When the session's user is bound to an
// instance of the route's service (registry.Binding.Logic), the request
// goes to fabric.Instance(instanceID, cmd, sub) instead; if that instance
// no longer serves the route, or does not answer, the client gets
// errs.CodeLogicGone (-1008). The token names an entry
// in one pending table; a single subscription on fabric.GateInbox(gateID)
// receives every reply and writes the response (same route and MsgID,
// status from the reply headers) to the session. The connection's reader
// never waits for a reply, so clients may pipeline requests, and no
// goroutine or timer exists per request: one sweeper answers overdue
// requests with errs.CodeSystem "request timeout". A NATS no-responders
// notice becomes errs.CodeRouteNotFound. A Void reply is only an
// acknowledgement and sends nothing. Late replies are ignored.
//
// A heartbeat (CmdCode 0) is answered at once by the gate. Any other
// CmdCode is answered with the same CmdCode, route and MsgID and status
// errs.CodeSystem; the connection stays open. A malformed envelope or a
// frame over Config.MaxFrame closes that connection only.
//
// # Pushes
//
// A session bound to a user is reachable on fabric.UserPush(userID): the
// gate subscribes to that subject for each bound user, so the NATS server
// routes a push only to the gate that holds the user, and drops the
// subscription with the user's last session. fabric.PushAll reaches every
// session. All push subscriptions feed one channel drained by one
// goroutine, so a bound user costs a map entry and a NATS subscription, not
// a goroutine. A push becomes an envelope with CmdCode 1, the route from
// its fabric.HeaderRoute header, MsgID 0 and the body as data; a JSON
// session gets it as protojson when the push names its protobuf type in
// fabric.HeaderType (transcode.go). A push sent in the very instant of a
// login may race the new subscription.
//
// # Login and control
//
// Logic servers steer sessions with fabric.Control requests: to
// fabric.GateControl(gateID) about one session (bind, that is login; kick,
// online, attributes, logic bindings), and to fabric.UserControl(userID),
// which only the gate holding the user subscribes, about a user. A login
// claims the user in the registry by compare-and-set and kicks the user's
// previous session, wherever it is, with errs.CodeForcedOffline (-1007):
// of any number of concurrent logins of one user exactly one session
// survives. See control.go and bind.go for the protocol.
//
// Session attributes (at most MaxAttrs keys and MaxAttrsBytes encoded) are
// set and read by control requests and travel with every request.
//
// # TLS, admission and region actions
//
// Config.TLSCertFile and TLSKeyFile (reloaded when they change, or with
// Server.ReloadTLS), TLSSelfSigned (development: pin Server.TLSFingerprint
// with client.PinnedTLS) or TLSConfig serve WebSocket as wss:// and TCP
// over TLS; KCP stays plaintext. Config.Authorize vets a WebSocket upgrade
// request before any session exists (BearerToken and HMACToken are
// ready-made). Logic servers call actions the gate serves by bizCode
// (HandleRegion, Config.Regions; built-in RegionSessions and RegionUsers)
// on subjects fabric.External and fabric.GateExternal; the region loop
// acknowledges calls to all gates and runs each action on a goroutine of
// its own. See tls.go, auth.go and region.go.
//
// # Goroutines and ownership
//
// Each session has a reader goroutine (the connection's own: the TCP
// accept loop starts it; for WebSocket it is fasthttp's handler goroutine)
// and, while it has something to send, a writer goroutine. The reader
// decodes frames and dispatches them; it owns the session's teardown. The
// writer owns all writes to the connection: anyone may queue an envelope
// with session.send, which never blocks; the first envelope queued while
// no writer runs starts one, which sends everything queued since its last
// write as one batch (one write call for TCP, one message per envelope for
// WebSocket) until the queue is empty, then ends. At most one writer runs
// at a time, so envelopes leave in the order they were queued.
// A queue longer than Config.WriteQueue closes the session, so a slow
// client never stalls the reply or push goroutine or holds unbounded
// memory. Queued envelopes share their payload with the NATS message, which
// is never modified.
//
// With Config.TrustedProxies set, each listener also has a goroutine that
// accepts connections and one per connection until its PROXY header is
// read (at most Config.HandshakeTimeout); closing the listener ends them.
//
// Server-wide goroutines: the TCP accept loop, the Fiber server, the push
// loop, the control loop, the region loop and its running actions, the
// timeout sweeper, the route view's watcher
// and the NATS subscription that handles replies. Each login (OpBind) runs
// on a goroutine of its own while it waits for the registry and for the
// kick of the previous session. Shutdown waits for all of them and for every session. With KCP
// on, add the KCP accept loop and kcp-go's socket reader (which runs the
// cookie guard), closed after the sessions (they send through its socket),
// and per KCP session one kcp-go
// goroutine that sends its packets; kcp-go also runs a small process-wide
// timer scheduler from the moment the package is loaded.
//
// # Locks
//
// Server.mu guards the session and user tables. session.outMu guards one
// session's queue; pendingTable.mu guards the pending table. A session's
// sessionCtl.bindMu serializes its logins and is held across broker I/O;
// sessionCtl.mu guards changes to its attributes and logic bindings;
// transcoder.mu guards the push type registry. Lock order: bindMu before
// Server.mu before session.outMu (pushes are queued while holding
// Server.mu for reading) and sessionCtl.mu (set under Server.mu by a
// login). session.outMu, sessionCtl.mu, pendingTable.mu, transcoder.mu
// and the edge's locks (addrCounts.mu, edgeConn.mu, edgeListener.mu,
// logEvery.mu) are leaves: nothing else is locked while holding them. NATS calls (subscribe,
// unsubscribe) may be made under Server.mu; nats.go never calls back into
// the gate while holding its own locks.
package external
