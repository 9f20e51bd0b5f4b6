package external

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/nats-io/nats.go"
)

// Control
//
// Logic servers (and operators) steer sessions with fabric.Control
// requests, JSON-encoded, answered with a JSON fabric.ControlReply when the
// message has a reply subject:
//
//   - on fabric.UserControl(userID), subscribed while the user has a
//     session on this gate: kick, online, get-attrs, set-attrs and
//     bind-logic act on the user's sessions here (only the one named by
//     Control.Session, if set). A gate that does not hold the user has no
//     subscription, so a request finds no responders: the user is offline.
//   - on fabric.GateControl(gateID): the same operations on the session
//     named by Control.Session, logged in or not, and bind (bind.go).
//
// All control subscriptions feed one channel drained by one goroutine;
// only a bind, which waits for the broker, runs on a goroutine of its own.

// ctlBuffer is the capacity of the channel that all control subscriptions
// share. nats.go drops (and reports as a slow consumer) what overflows it.
const ctlBuffer = 4096

// subscribeControl subscribes this gate's control subject.
func (s *Server) subscribeControl() error {
	sub, err := s.nc.ChanSubscribe(fabric.GateControl(s.cfg.ID), s.ctlCh)
	if err != nil {
		return fmt.Errorf("external: subscribe control: %w", err)
	}
	s.subs = append(s.subs, sub)
	return nil
}

// controlLoop handles control messages until the server stops. life ends
// when shutdown begins; binds in flight give up then.
func (s *Server) controlLoop(life context.Context) {
	defer s.wg.Done()
	gateSubject := fabric.GateControl(s.cfg.ID)
	for {
		select {
		case msg := <-s.ctlCh:
			s.control(life, msg, msg.Subject == gateSubject)
		case <-s.stopping:
			return
		}
	}
}

// control handles one control message, on the control goroutine.
func (s *Server) control(life context.Context, msg *nats.Msg, gate bool) {
	var c fabric.Control
	if err := json.Unmarshal(msg.Data, &c); err != nil {
		s.log.Warn("malformed control message", "subject", msg.Subject, "err", err)
		s.controlReply(msg, fabric.ControlReply{Error: "external: malformed control message"})
		return
	}
	if !gate {
		s.userControl(msg, &c)
		return
	}
	if c.Op == fabric.OpBind || c.Op == fabric.OpUnbind {
		// The control goroutine is counted in s.wg, so this Add cannot race
		// with the Wait of a shutdown.
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.bindOp(life, msg, &c)
		}()
		return
	}
	s.mu.RLock()
	sess := s.sessions[c.Session]
	s.mu.RUnlock()
	switch {
	case sess == nil || sess.closed.Load():
		s.controlReply(msg, fabric.ControlReply{Error: fmt.Sprintf("%v: no session %d on gate %s", errNoSession, c.Session, s.cfg.ID), Gone: true})
	case c.Op == fabric.OpKick && c.User != 0 && !sess.holds(c.User):
		// The session has moved on to another user since the sender
		// looked: it is not the one to kick.
		s.controlReply(msg, fabric.ControlReply{Error: fmt.Sprintf("external: session %d is not user %d's", c.Session, c.User)})
	default:
		s.applyControl(msg, &c, []*session{sess})
	}
}

// userControl handles a message on fabric.UserControl for the user of the
// subscription it came on.
func (s *Server) userControl(msg *nats.Msg, c *fabric.Control) {
	var targets []*session
	s.mu.RLock()
	if u := s.bySub[msg.Sub]; u != nil {
		for _, x := range u.sessions {
			if !x.closed.Load() && (c.Session == 0 || x.id == c.Session) {
				targets = append(targets, x)
			}
		}
	}
	s.mu.RUnlock()
	if len(targets) == 0 {
		return // the user has just left this gate: say nothing, as when offline
	}
	if c.Op == fabric.OpBind || c.Op == fabric.OpUnbind {
		s.controlReply(msg, fabric.ControlReply{Error: "external: " + c.Op + " is a gate control operation, not a user one"})
		return
	}
	s.applyControl(msg, c, targets)
}

// applyControl applies c to targets, one or more open sessions, newest
// last, and answers.
func (s *Server) applyControl(msg *nats.Msg, c *fabric.Control, targets []*session) {
	newest := targets[len(targets)-1]
	r := fabric.ControlReply{OK: true}
	switch c.Op {
	case fabric.OpKick:
		for _, x := range targets {
			s.kick(x, c.Code, c.Msg)
		}
	case fabric.OpOnline:
		r.Online, r.Gate, r.Session = true, s.cfg.ID, newest.id
	case fabric.OpGetAttrs:
		r.Attrs = newest.ctl.attrs()
	case fabric.OpSetAttrs:
		for _, x := range targets {
			if err := x.ctl.setAttrs(c.Attrs); err != nil {
				r = fabric.ControlReply{Error: err.Error()}
				break
			}
		}
	case fabric.OpBindLogic:
		if c.Service == "" {
			r = fabric.ControlReply{Error: "external: bind-logic without a service"}
			break
		}
		for _, x := range targets {
			x.ctl.bindLogic(c.Service, c.Instance)
		}
	default:
		r = fabric.ControlReply{Error: fmt.Sprintf("external: unknown control op %q", c.Op)}
	}
	s.controlReply(msg, r)
}

// controlReply answers a control request; a message without a reply
// subject gets no answer.
func (s *Server) controlReply(msg *nats.Msg, r fabric.ControlReply) {
	if msg.Reply == "" {
		return
	}
	b, err := json.Marshal(r)
	if err != nil { // cannot happen: strings, bools and a string map
		return
	}
	if err := s.nc.Publish(msg.Reply, b); err != nil {
		s.log.Debug("control reply failed", "err", err)
	}
}

// kick sends sess an envelope with status code (default
// errs.CodeForcedOffline) and text msg, then closes the session once that
// and whatever was queued before it has been written. The envelope has
// CmdCode business, no route and MsgID 0, like a push.
//
// The session leaves its user at once, not when its client has read the
// envelope: the user's pushes and control messages stop reaching it, and a
// gate left without a session of the user stops answering for the user.
// removeSession releases the registry entry later.
func (s *Server) kick(sess *session, code int32, msg string) {
	if code == 0 {
		code = errs.CodeForcedOffline
	}
	if msg == "" && code == errs.CodeForcedOffline {
		msg = errs.ErrForcedOffline.Msg
	}
	sess.send(wire.Message{CmdCode: wire.CmdBusiness, Status: code, ValidMsg: msg})
	if !sess.closeWith(graceful) {
		return
	}
	s.mu.Lock()
	user := s.unbindLocked(sess)
	s.mu.Unlock()
	if user != 0 {
		sess.ctl.kickedFrom.Store(user)
	}
	sess.log.Info("session kicked", "user", user, "code", code, "msg", msg)
}
