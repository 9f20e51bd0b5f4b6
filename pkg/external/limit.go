package external

import (
	"math"
	"time"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/wire"
	"golang.org/x/time/rate"
)

// ErrRateLimited answers an envelope sent faster than Config.RateLimit
// allows. It carries errs.CodeSystem, as ioGame's code table has no code
// for it: clients tell it apart by its message, "rate limited". The
// response has the request's CmdCode, route and MsgID, and the connection
// stays open, so a client that bursts gets errors, not a disconnection.
var ErrRateLimited = errs.ErrSystem.WithMsg("rate limited")

// limiter is one session's pair of token buckets: the soft limit answers
// excess envelopes with ErrRateLimited, the ceiling closes the connection.
// Either is nil when off. Only the session's reader goroutine uses it.
type limiter struct {
	soft    *rate.Limiter
	ceiling *rate.Limiter
}

// verdict is what the limiter decides for one envelope.
type verdict uint8

const (
	admit   verdict = iota // dispatch it
	limited                // answer ErrRateLimited
	abusive                // close the connection
)

func newLimiter(cfg *Config) limiter {
	var l limiter
	if cfg.RateLimit > 0 {
		l.soft = rate.NewLimiter(rate.Limit(cfg.RateLimit), max(cfg.RateBurst, 1))
	}
	if cfg.RateCeiling > 0 {
		burst := max(int(math.Ceil(cfg.RateCeiling)), cfg.RateBurst, 1)
		l.ceiling = rate.NewLimiter(rate.Limit(cfg.RateCeiling), burst)
	}
	return l
}

// check decides for one envelope that arrived at now. Every envelope
// counts against the ceiling, limited ones too: a client that ignores
// ErrRateLimited and keeps sending is the one the ceiling is for.
func (l *limiter) check(now time.Time) verdict {
	if l.ceiling != nil && !l.ceiling.AllowN(now, 1) {
		return abusive
	}
	if l.soft != nil && !l.soft.AllowN(now, 1) {
		return limited
	}
	return admit
}

// admit reports whether the envelope m may be dispatched. Heartbeats
// always are. An envelope over the rate limit is answered with
// ErrRateLimited; one over the ceiling closes the session. It runs on the
// reader goroutine.
func (s *session) admit(m *wire.Message) bool {
	if m.CmdCode == wire.CmdHeartbeat || (s.limit.soft == nil && s.limit.ceiling == nil) {
		return true
	}
	switch s.limit.check(time.Now()) {
	case limited:
		s.send(wire.Message{
			CmdCode:  m.CmdCode,
			CmdMerge: m.CmdMerge,
			MsgID:    m.MsgID,
			Status:   ErrRateLimited.Code,
			ValidMsg: ErrRateLimited.Msg,
		})
		return false
	case abusive:
		if s.closeWith(abort) {
			s.log.Warn("closed session: over the rate ceiling", "ceiling", s.srv.cfg.RateCeiling)
		}
		return false
	}
	return true
}
