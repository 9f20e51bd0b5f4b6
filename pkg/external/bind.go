package external

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/registry"
	"github.com/nats-io/nats.go"
)

// Login
//
// A logic handler logs its client in with Ctx.Bind(userID): a request
// fabric.Control{Op: OpBind, Session, User} to fabric.GateControl of the
// gate holding the session. The gate, on a goroutine of its own:
//
//  1. claims the user in the bindings bucket by compare-and-set: the entry's
//     Gate and Session now name this session. Concurrent logins of one
//     user, on any gates, so form one chain in which each login sees the
//     one before it (registry.Registry.UpdateBinding);
//  2. kicks the session it replaced in that chain with
//     errs.CodeForcedOffline: directly when it is on this gate, else with
//     an OpKick request to fabric.GateControl of its gate (a gate that is
//     gone does not answer, which is fine: its sessions are gone too);
//  3. binds the session here: its userID, subscriptions to the user's push
//     and control subjects, the user's logic bindings from the entry;
//  4. answers {OK: true}, or {OK: false, Error} when it could not.
//
// Every login of a chain but the last is kicked by its successor, so
// exactly one session survives however the logins interleave. A kick names
// the user, and a session that holds neither that user nor a bind to it in
// progress is left alone. A session that closes during its bind is not
// bound; a bound session that closes clears Gate and Session from the
// entry if they still name it, keeping the logic bindings, which thus
// survive a reconnect. Binding a bound session to another user switches
// users: the old user's subscriptions and entry are released.

// Timeouts of the login protocol.
const (
	// bindTimeout bounds one bind: the registry update, the kick and the
	// reload of the logic bindings.
	bindTimeout = 5 * time.Second
	// kickTimeout bounds the wait for another gate to kick the session a
	// login replaces.
	kickTimeout = time.Second
	// releaseTimeout bounds the registry update of a closing session.
	releaseTimeout = 2 * time.Second
)

// kickedMsg is the text sent with errs.CodeForcedOffline to a session
// replaced by a login of its user elsewhere.
const kickedMsg = "logged in elsewhere"

// errNotMine aborts a registry update that finds the entry naming another
// session.
var errNotMine = errors.New("external: binding names another session")

// errNoSession is the cause of a control request on a session that is not
// open on this gate (fabric.ControlReply.Gone).
var errNoSession = errors.New("external: no such session")

// bindOp answers an OpBind or OpUnbind request. It runs on a goroutine of
// its own.
func (s *Server) bindOp(life context.Context, msg *nats.Msg, c *fabric.Control) {
	ctx, cancel := context.WithTimeout(life, bindTimeout)
	defer cancel()
	r := fabric.ControlReply{OK: true}
	var err error
	if c.Op == fabric.OpUnbind {
		err = s.logout(c.Session)
	} else {
		err = s.login(ctx, c.Session, c.User)
	}
	if err != nil {
		gone := errors.Is(err, errNoSession)
		level := slog.LevelInfo
		if gone { // the client left before its login finished: routine
			level = slog.LevelDebug
		}
		s.log.Log(life, level, c.Op+" failed", slog.Uint64("session", c.Session), slog.Int64("user", c.User), slog.Any("error", err))
		r = fabric.ControlReply{Error: err.Error(), Gone: gone}
	}
	s.controlReply(msg, r)
}

// logout unbinds session sid from its user: the session stays open and
// anonymous (requests to login-only routes get -1004 again), the user's
// pushes and control messages no longer reach it, and the user's registry
// entry no longer names it. A session bound to nobody is left as it is.
func (s *Server) logout(sid uint64) error {
	sess := s.openSession(sid)
	if sess == nil {
		return fmt.Errorf("%w: no session %d on gate %s", errNoSession, sid, s.cfg.ID)
	}
	sess.ctl.bindMu.Lock()
	defer sess.ctl.bindMu.Unlock()
	s.mu.Lock()
	user := s.unbindLocked(sess)
	sess.ctl.setLogic(nil) // the logic bindings were the user's
	s.mu.Unlock()
	if user != 0 {
		s.release(user, sid)
		sess.log.Debug("session unbound", "user", user)
	}
	return nil
}

// openSession returns session sid if it is open, else nil.
func (s *Server) openSession(sid uint64) *session {
	s.mu.RLock()
	sess := s.sessions[sid]
	s.mu.RUnlock()
	if sess == nil || sess.closed.Load() {
		return nil
	}
	return sess
}

// login binds session sid to user, kicking the user's previous session.
func (s *Server) login(ctx context.Context, sid uint64, user int64) error {
	if user == 0 {
		return errors.New("external: bind to user 0")
	}
	sess := s.openSession(sid)
	if sess == nil {
		return fmt.Errorf("%w: no session %d on gate %s", errNoSession, sid, s.cfg.ID)
	}
	sess.ctl.bindMu.Lock()
	defer sess.ctl.bindMu.Unlock()
	if sess.userID.Load() == user {
		return nil
	}
	sess.ctl.claim.Store(user)
	defer sess.ctl.claim.Store(0) // after attach has set userID: holds never misses
	before, after, err := s.reg.UpdateBinding(ctx, user, func(b *registry.Binding) error {
		b.Gate, b.Session = s.cfg.ID, sid
		return nil
	})
	if err != nil {
		return fmt.Errorf("external: bind user %d: %w", user, err)
	}
	if before.Gate != "" && (before.Gate != s.cfg.ID || before.Session != sid) {
		s.kickPrevious(ctx, before.Gate, before.Session, user)
	}
	old, gen, ok := s.attach(sess, user, after.Logic)
	if !ok {
		s.release(user, sid)
		return fmt.Errorf("%w: session %d closed", errNoSession, sid)
	}
	if old != 0 {
		s.release(old, sid)
	}
	// A BindLogic that changed the entry after the update above may have
	// sent its OpBindLogic before the user's control subscription existed.
	// Reading the entry now, after subscribing, sees any such change; one
	// that arrives by OpBindLogic meanwhile is newer and wins.
	if b, err := s.reg.Binding(ctx, user); err == nil {
		sess.ctl.refreshLogic(b.Logic, gen)
	} else {
		sess.log.Warn("reloading logic bindings failed", "user", user, "err", err)
	}
	sess.log.Debug("session bound", "user", user, "previous", old)
	return nil
}

// kickPrevious kicks session sid of gate, the session of user that a login
// replaces.
func (s *Server) kickPrevious(ctx context.Context, gate string, sid uint64, user int64) {
	if gate == s.cfg.ID {
		s.mu.RLock()
		prev := s.sessions[sid]
		s.mu.RUnlock()
		if prev != nil && prev.holds(user) {
			s.kick(prev, errs.CodeForcedOffline, kickedMsg)
		}
		return
	}
	b, _ := json.Marshal(fabric.Control{
		Op: fabric.OpKick, Session: sid, User: user, Code: errs.CodeForcedOffline, Msg: kickedMsg,
	})
	kctx, cancel := context.WithTimeout(ctx, kickTimeout)
	defer cancel()
	_, err := s.nc.RequestWithContext(kctx, fabric.GateControl(gate), b)
	if err != nil && !errors.Is(err, nats.ErrNoResponders) {
		s.log.Warn("kicking the previous session failed", "user", user, "gate", gate, "session", sid, "err", err)
	}
}

// holds reports whether sess is user's session, or is being bound to user.
func (sess *session) holds(user int64) bool {
	return sess.userID.Load() == user || sess.ctl.claim.Load() == user
}

// attach makes sess the session of user on this gate: its next requests
// carry the user, and it gets the pushes and control messages of the user.
// Each bound user has its own push and control subscriptions, so the NATS
// server routes them only to the gate holding the user; they deliver into
// the shared push and control channels, so a user costs no goroutine.
//
// attach returns the user sess was bound to before (0 for none) and the
// session's logic change counter. It does nothing and reports false for a
// session that is closed or gone, or once shutdown has begun.
func (s *Server) attach(sess *session, user int64, logic map[string]string) (old int64, gen uint64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || s.sessions[sess.id] != sess || sess.closed.Load() {
		return 0, 0, false
	}
	old = s.unbindLocked(sess)
	u := s.users[user]
	if u == nil {
		u = &userEntry{id: user}
		var err error
		// On failure the session still binds: its requests work, its
		// pushes or control messages do not.
		if u.sub, err = s.nc.ChanSubscribe(fabric.UserPush(user), s.pushCh); err != nil {
			s.log.Error("push subscription failed", "user", user, "err", err)
		} else {
			s.bySub[u.sub] = u
		}
		if u.ctl, err = s.nc.ChanSubscribe(fabric.UserControl(user), s.ctlCh); err != nil {
			s.log.Error("control subscription failed", "user", user, "err", err)
		} else {
			s.bySub[u.ctl] = u
		}
		s.users[user] = u
	}
	u.sessions = append(u.sessions, sess)
	gen = sess.ctl.setLogic(logic)
	sess.userID.Store(user)
	return old, gen, true
}

// release clears session sid of this gate from user's registry entry, if
// the entry still names it; the logic bindings stay.
func (s *Server) release(user int64, sid uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	_, _, err := s.reg.UpdateBinding(ctx, user, func(b *registry.Binding) error {
		if b.Gate != s.cfg.ID || b.Session != sid {
			return errNotMine
		}
		b.Gate, b.Session = "", 0
		return nil
	})
	if err != nil && !errors.Is(err, errNotMine) {
		s.log.Warn("releasing the user's registry entry failed", "user", user, "session", sid, "err", err)
	}
}
