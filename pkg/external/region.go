package external

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/nats-io/nats.go"
)

// External region
//
// Logic servers call actions that gates serve, by bizCode, as ioGame's
// ExternalBizRegion does: on one gate, on the gate holding a user, or on
// every gate with the results collected per gate (logic.RegionCall,
// logic.RegionCallUser, logic.RegionCallAll). An application registers its
// typed actions with HandleRegion on a Regions it puts in Config.Regions;
// every gate also serves the built-in fabric.BizSessions and
// fabric.BizUsers. Requests and responses are protobuf messages or the
// bare values logic routes take (wire.ValueOf); an action's error crosses
// the wire as an errs.Error (any other error becomes errs.ErrSystem, and
// is logged); an unknown bizCode is answered with errs.CodeRouteNotFound.
//
// All region subscriptions feed one channel drained by one goroutine,
// which acknowledges calls to every gate at once and runs each action on
// a goroutine of its own, at most maxRegionCalls at a time, under the
// caller's timeout (fabric.HeaderTimeout, else Config.RequestTimeout). An
// action still running at that deadline gets no answer sent: the caller
// has given up and times out on its own.

// regionBuffer is the capacity of the channel of region calls.
const regionBuffer = 1024

// maxRegionCalls bounds the region actions running at once on a gate; a
// call beyond it is answered with errs.CodeSystem at once.
const maxRegionCalls = 256

// Built-in region actions, re-exported from package fabric.
const (
	// RegionSessions is the built-in action answering the gate's number of
	// open sessions, an int64.
	RegionSessions = fabric.BizSessions
	// RegionUsers is the built-in action answering the gate's number of
	// logged-in users, an int64.
	RegionUsers = fabric.BizUsers
)

// RegionAction is an external-region action with its request and response
// erased to bytes (protobuf encoding); HandleRegion makes one from a typed
// function.
type RegionAction func(ctx context.Context, req []byte) ([]byte, error)

// Regions is a set of external-region actions by bizCode, for
// Config.Regions. Register actions with HandleRegion before the server
// starts; a Regions is not safe for concurrent registration.
type Regions struct {
	actions map[int32]RegionAction
	errs    []error
}

// NewRegions returns an empty set of region actions.
func NewRegions() *Regions { return &Regions{actions: make(map[int32]RegionAction)} }

// Handle registers the erased action fn for bizCode. A negative bizCode
// (the framework's), a nil fn or a bizCode registered twice is reported by
// New, as route registration mistakes are at start.
func (r *Regions) Handle(bizCode int32, fn RegionAction) {
	switch {
	case bizCode < 0:
		r.errs = append(r.errs, fmt.Errorf("external: region bizCode %d: negative bizCodes are reserved", bizCode))
	case fn == nil:
		r.errs = append(r.errs, fmt.Errorf("external: region bizCode %d: nil action", bizCode))
	case r.actions[bizCode] != nil:
		r.errs = append(r.errs, fmt.Errorf("external: region bizCode %d registered twice", bizCode))
	default:
		r.actions[bizCode] = fn
	}
}

func (r *Regions) err() error {
	if r == nil {
		return nil
	}
	return errors.Join(r.errs...)
}

// HandleRegion registers fn as the region action bizCode of r. Req and
// Resp are protobuf message pointers or the bare values routes take
// (int32, int64, bool, string, their slices, slices of messages); an
// unsupported type is reported by New. fn runs on a goroutine of its own
// with the caller's deadline on ctx, which also ends when the gate shuts
// down: fn must return then, since Shutdown waits for it. RegionGate(ctx)
// is the gate serving it. An *errs.Error it returns reaches the caller as
// is.
//
//	regions := external.NewRegions()
//	external.HandleRegion(regions, 1, func(ctx context.Context, req *pb.Notice) (*pb.Ack, error) { ... })
//	srv, err := external.New(external.Config{WSAddr: ":10100", Regions: regions})
func HandleRegion[Req, Resp any](r *Regions, bizCode int32, fn func(ctx context.Context, req Req) (Resp, error)) {
	in, err := wire.ValueOf[Req]()
	if err == nil {
		var out wire.Value[Resp]
		if out, err = wire.ValueOf[Resp](); err == nil {
			if fn == nil {
				r.Handle(bizCode, nil)
				return
			}
			r.Handle(bizCode, func(ctx context.Context, b []byte) ([]byte, error) {
				req, err := in.Unmarshal(b, wire.Protobuf{})
				if err != nil {
					return nil, errs.ErrValidation.WithMsg("region request: " + err.Error())
				}
				resp, err := fn(ctx, req)
				if err != nil {
					return nil, err
				}
				return out.Append(nil, wire.Protobuf{}, resp)
			})
			return
		}
	}
	r.errs = append(r.errs, fmt.Errorf("external: region bizCode %d: %w", bizCode, err))
}

// gateKey is the context key of the serving gate.
type gateKey struct{}

// RegionGate returns the gate serving the region action whose context is
// ctx, or nil outside a region action.
func RegionGate(ctx context.Context) *Server {
	s, _ := ctx.Value(gateKey{}).(*Server)
	return s
}

// regionState is a gate's region setup.
type regionState struct {
	actions map[int32]RegionAction // built-ins and Config.Regions
	ch      chan *nats.Msg
	sem     chan struct{}
}

// subscribeRegion subscribes the region subjects and starts the loop that
// serves them; the loop ends at shutdown, the actions' contexts with life.
func (s *Server) subscribeRegion(life context.Context) error {
	st := &s.region
	st.actions = map[int32]RegionAction{
		fabric.BizSessions: s.countAction(func() int { return s.Sessions() }),
		fabric.BizUsers: s.countAction(func() int {
			s.mu.RLock()
			defer s.mu.RUnlock()
			return len(s.users)
		}),
	}
	if s.cfg.Regions != nil {
		maps.Copy(st.actions, s.cfg.Regions.actions)
	}
	st.ch = make(chan *nats.Msg, regionBuffer)
	st.sem = make(chan struct{}, maxRegionCalls)
	for _, subject := range []string{fabric.ExternalAll, fabric.GateExternalAll(s.cfg.ID)} {
		sub, err := s.nc.ChanSubscribe(subject, st.ch)
		if err != nil {
			return fmt.Errorf("external: subscribe region: %w", err)
		}
		s.subs = append(s.subs, sub)
	}
	s.wg.Add(1)
	go s.regionLoop(life)
	return nil
}

// countAction returns a built-in action answering n() as an int64.
func (s *Server) countAction(n func() int) RegionAction {
	out, _ := wire.ValueOf[int64]() // a supported type
	return func(context.Context, []byte) ([]byte, error) {
		return out.Append(nil, wire.Protobuf{}, int64(n()))
	}
}

// regionLoop serves region calls until the server stops.
func (s *Server) regionLoop(life context.Context) {
	defer s.wg.Done()
	for {
		select {
		case msg := <-s.region.ch:
			s.regionCall(life, msg)
		case <-s.stopping:
			return
		}
	}
}

// regionCall serves one region call, on the region goroutine.
func (s *Server) regionCall(life context.Context, msg *nats.Msg) {
	if msg.Reply == "" {
		return // nobody to answer
	}
	biz, all, ok := fabric.RegionBizCode(msg.Subject)
	if !ok {
		return
	}
	if all {
		ack := nats.Msg{Subject: msg.Reply, Header: nats.Header{}}
		ack.Header.Set(fabric.HeaderAck, "1")
		ack.Header.Set(fabric.HeaderInstance, s.cfg.ID)
		if err := s.nc.PublishMsg(&ack); err != nil {
			s.log.Debug("region ack failed", slog.Any("error", err))
			return
		}
	}
	action := s.region.actions[biz]
	if action == nil {
		s.regionReply(msg, nil, errs.ErrRouteNotFound.WithMsg(
			fmt.Sprintf("external: no region action for bizCode %d on gate %s", biz, s.cfg.ID)))
		return
	}
	timeout := s.cfg.RequestTimeout
	if m, err := fabric.ParseMeta(msg.Header); err == nil && m.Timeout > 0 {
		timeout = m.Timeout
	}
	select {
	case s.region.sem <- struct{}{}:
	default:
		s.regionReply(msg, nil, errs.ErrSystem.WithMsg("external: too many region calls in progress"))
		return
	}
	// The region goroutine is counted in s.wg, so this Add cannot race
	// with the Wait of a shutdown.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.region.sem }()
		ctx, cancel := context.WithTimeout(context.WithValue(life, gateKey{}, s), timeout)
		defer cancel()
		data, err := s.runRegion(ctx, biz, action, msg.Data)
		switch ctx.Err() {
		case context.DeadlineExceeded:
			// The caller has given up (its deadline is this one): an
			// answer would reach nobody, and it times out the same way
			// whether or not one is on its way.
			return
		case context.Canceled:
			err = errs.ErrSystem.WithMsg("external: gate shutting down")
		}
		s.regionReply(msg, data, err)
	}()
}

// runRegion runs one action, turning a panic into an error.
func (s *Server) runRegion(ctx context.Context, biz int32, action RegionAction, req []byte) (data []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("region action panic", "bizCode", biz, "panic", v)
			data, err = nil, errs.ErrSystem
		}
	}()
	data, err = action(ctx, req)
	if err != nil && ctx.Err() == nil {
		var e *errs.Error
		if !errors.As(err, &e) {
			s.log.Warn("region action failed", "bizCode", biz, slog.Any("error", err))
		}
	}
	return data, err
}

// regionReply answers a region call with data or err.
func (s *Server) regionReply(msg *nats.Msg, data []byte, err error) {
	r := fabric.Reply{Instance: s.cfg.ID}
	if err != nil {
		e := errs.From(err)
		r.Status, r.Error, data = e.Code, e.Msg, nil
	}
	out := nats.Msg{Subject: msg.Reply, Header: r.Header(), Data: data}
	if err := s.nc.PublishMsg(&out); err != nil {
		s.log.Debug("region reply failed", slog.Any("error", err))
	}
}
