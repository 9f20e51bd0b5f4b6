package external

import (
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/nats-io/nats.go"
)

// pushBuffer is the capacity of the channel that all push subscriptions
// share. nats.go drops (and reports as a slow consumer) what overflows it.
const pushBuffer = 8192

// userEntry is one bound user: its push subscription and its sessions on
// this gate (usually one; a duplicate-login policy may later keep it so).
type userEntry struct {
	id       int64
	sub      *nats.Subscription
	sessions []*session
}

// bind makes sess the session of userID: the session's next requests carry
// the user, and pushes to fabric.UserPush(userID) reach it. Each bound user
// has its own subscription, so the NATS server routes a push only to the
// gate holding the user; all of them deliver into one channel, drained by
// one goroutine, so a user costs no goroutine. bind is a no-op for a
// session already removed.
func (s *Server) bind(sess *session, userID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[sess.id] != sess || sess.userID.Load() == userID {
		return
	}
	s.unbindLocked(sess)
	u := s.users[userID]
	if u == nil {
		sub, err := s.nc.ChanSubscribe(fabric.UserPush(userID), s.pushCh)
		if err != nil {
			// The session still binds: requests work, pushes do not.
			s.log.Error("push subscription failed", "user", userID, "err", err)
		}
		u = &userEntry{id: userID, sub: sub}
		s.users[userID] = u
		if sub != nil {
			s.bySub[sub] = u
		}
	}
	u.sessions = append(u.sessions, sess)
	sess.userID.Store(userID)
}

// unbindLocked detaches sess from its user, dropping the user's push
// subscription with its last session. s.mu must be held.
func (s *Server) unbindLocked(sess *session) {
	old := sess.userID.Load()
	if old == 0 {
		return
	}
	sess.userID.Store(0)
	u := s.users[old]
	if u == nil {
		return
	}
	for i, x := range u.sessions {
		if x == sess {
			u.sessions = append(u.sessions[:i], u.sessions[i+1:]...)
			break
		}
	}
	if len(u.sessions) > 0 {
		return
	}
	delete(s.users, old)
	if u.sub != nil {
		delete(s.bySub, u.sub)
		_ = u.sub.Unsubscribe()
	}
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
// the body is sent untouched.
func (s *Server) deliverPush(msg *nats.Msg) {
	meta, err := fabric.ParseMeta(msg.Header)
	if err != nil {
		s.log.Warn("dropped push without a valid route", "subject", msg.Subject, "err", err)
		return
	}
	m := wire.Message{CmdCode: wire.CmdBusiness, CmdMerge: meta.CmdMerge(), Data: msg.Data}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if msg.Subject == fabric.PushAll {
		for _, sess := range s.sessions {
			sess.send(m)
		}
		return
	}
	if u := s.bySub[msg.Sub]; u != nil {
		for _, sess := range u.sessions {
			sess.send(m)
		}
	}
}
