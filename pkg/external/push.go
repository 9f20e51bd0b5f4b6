package external

import (
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/nats-io/nats.go"
)

// pushBuffer is the capacity of the channel that all push subscriptions
// share. nats.go drops (and reports as a slow consumer) what overflows it.
const pushBuffer = 8192

// userEntry is one bound user: its push and control subscriptions and its
// sessions on this gate (usually one; two while a login on this gate
// replaces another one here).
type userEntry struct {
	id       int64
	sub      *nats.Subscription // fabric.UserPush(id)
	ctl      *nats.Subscription // fabric.UserControl(id)
	sessions []*session
}

// unsubscribe drops the user's subscriptions.
func (u *userEntry) unsubscribe() {
	for _, sub := range []*nats.Subscription{u.sub, u.ctl} {
		if sub != nil {
			_ = sub.Unsubscribe()
		}
	}
}

// unbindLocked detaches sess from its user, dropping the user's
// subscriptions with its last session, and returns that user (0 if sess
// was not bound). s.mu must be held.
func (s *Server) unbindLocked(sess *session) int64 {
	old := sess.userID.Load()
	if old == 0 {
		return 0
	}
	sess.userID.Store(0)
	u := s.users[old]
	if u == nil {
		return old
	}
	for i, x := range u.sessions {
		if x == sess {
			u.sessions = append(u.sessions[:i], u.sessions[i+1:]...)
			break
		}
	}
	if len(u.sessions) > 0 {
		return old
	}
	delete(s.users, old)
	delete(s.bySub, u.sub)
	delete(s.bySub, u.ctl)
	u.unsubscribe()
	return old
}

// pushLoop delivers pushes until the server stops.
func (s *Server) pushLoop() {
	defer s.wg.Done()
	for {
		select {
		case msg := <-s.pushCh:
			s.deliverPush(msg)
		case <-s.stopping:
			return
		}
	}
}

// deliverPush queues a push for its sessions: every session for
// fabric.PushAll, else the sessions of the subscription's user. The
// envelope has CmdCode 1, the route from the Iogo-Route header and MsgID 0;
// the body is sent untouched, except to JSON sessions when the push names
// its protobuf type in fabric.HeaderType: they get it as protojson
// (transcode.go).
func (s *Server) deliverPush(msg *nats.Msg) {
	meta, err := fabric.ParseMeta(msg.Header)
	if err != nil {
		s.log.Warn("dropped push without a valid route", "subject", msg.Subject, "err", err)
		return
	}
	p := outPush{m: wire.Message{CmdCode: wire.CmdBusiness, CmdMerge: meta.CmdMerge(), Data: msg.Data}}
	if p.typ = msg.Header.Get(fabric.HeaderType); p.typ != "" {
		p.tc = s.types
		p.tc.refresh() // outside s.mu: it may rebuild the type registry
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if msg.Subject == fabric.PushAll {
		for _, sess := range s.sessions {
			sess.send(p.forSession(sess))
		}
		return
	}
	if u := s.bySub[msg.Sub]; u != nil {
		for _, sess := range u.sessions {
			sess.send(p.forSession(sess))
		}
	}
}
