// Package external is the external server (gate) of iogo: it holds game
// clients' connections over WebSocket and TCP, forwards their requests to
// logic servers over NATS, and relays replies and pushes back.
//
// # Requests
//
// A business envelope (CmdCode 1) is published to fabric.Request(cmd, sub)
// with the payload untouched as the body, fabric.Meta as headers and a
// reply subject fabric.GateReply(gateID, token). The token names an entry
// in one pending table; a single subscription on fabric.GateInbox(gateID)
// receives every reply and writes the response (same route and MsgID,
// status from the reply headers) to the session. The connection's reader
// never waits for a reply, so clients may pipeline requests, and no
// goroutine or timer exists per request: one sweeper answers overdue
// requests with errs.CodeSystem "request timeout". A NATS no-responders
// notice becomes errs.CodeRouteNotFound. A reply carrying Bind sets the
// session's user before the response is queued; a Void reply is only an
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
// its fabric.HeaderRoute header, MsgID 0 and the body as data. A push sent
// in the very instant of a login may race the new subscription.
//
// # Goroutines and ownership
//
// Each session has a reader goroutine (the connection's own: the TCP
// accept loop starts it; for WebSocket it is fasthttp's handler goroutine)
// and a writer goroutine. The reader decodes frames and dispatches them;
// it owns the session's teardown. The writer owns all writes to the
// connection: anyone may queue an envelope with session.send, which never
// blocks; the writer sends everything queued since its last wake-up as one
// batch (one write call for TCP, one message per envelope for WebSocket).
// A queue longer than Config.WriteQueue closes the session, so a slow
// client never stalls the reply or push goroutine or holds unbounded
// memory. Queued envelopes share their payload with the NATS message, which
// is never modified.
//
// Server-wide goroutines: the TCP accept loop, the Fiber server, the push
// loop, the timeout sweeper, and the NATS subscription that handles
// replies. Shutdown waits for all of them and for every session.
//
// # Locks
//
// Server.mu guards the session and user tables. session.outMu guards one
// session's queue; pendingTable.mu guards the pending table. Lock order:
// Server.mu before session.outMu (pushes are queued while holding
// Server.mu for reading). session.outMu and pendingTable.mu are leaves:
// nothing else is locked while holding them. NATS calls (subscribe,
// unsubscribe) may be made under Server.mu; nats.go never calls back into
// the gate while holding its own locks.
package external
