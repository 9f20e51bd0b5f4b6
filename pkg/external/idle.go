package external

import (
	"errors"
	"net"
	"time"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/wire"
)

// Idle timeout
//
// No timer or goroutine exists per connection for it: each link sets its
// connection's read deadline to now + IdleTimeout before it reads a frame,
// so the kernel poller (or, for KCP, the session's own read timer) ends a
// read that waits too long. A read that fails with a timeout on a session
// nobody has closed is an idle timeout; any other close of the session
// (shutdown, abort, an expired deadline used to unblock a WebSocket)
// marks the session closed first, so it is never mistaken for one.

// idleMessage is what an idle connection gets before it is closed: the
// envelope ioGame's gate sends (ExternalKit.createIdleErrorMessage), with
// CmdCode 0 (heartbeat), MsgID 0, status errs.CodeIdleTimeout.
var idleMessage = wire.Message{
	CmdCode:  wire.CmdHeartbeat,
	Status:   errs.ErrIdleTimeout.Code,
	ValidMsg: errs.ErrIdleTimeout.Msg,
}

// readDeadline returns the deadline for the next read of a link whose idle
// timeout is idle, or the zero time (no deadline) when idle is off.
func readDeadline(idle time.Duration) time.Time {
	if idle <= 0 {
		return time.Time{}
	}
	return time.Now().Add(idle)
}

// isTimeout reports whether err is a read deadline's expiry, as net.Conn,
// fasthttp/websocket and kcp-go report it.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// idleOut closes an idle session: it queues idleMessage and closes the
// session gracefully, so the writer sends it (and whatever else is queued)
// before closing the connection. It runs on the reader goroutine after a
// read timed out, and reports whether this call closed the session.
func (s *session) idleOut() bool {
	s.send(idleMessage)
	if !s.closeWith(graceful) {
		return false
	}
	s.log.Debug("closed session: idle timeout", "idle", s.srv.cfg.IdleTimeout)
	return true
}
