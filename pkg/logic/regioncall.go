package logic

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/nats-io/nats.go"
)

// Region calls: actions that external servers (gates) serve by bizCode
// (ioGame's ExternalBizRegion), registered on the gates with
// external.HandleRegion. Every gate also serves the built-in
// fabric.BizSessions and fabric.BizUsers.

// DefaultRegionQuiet is how long RegionCallAll waits for a gate it has not
// heard of yet: the call ends once no new gate has acknowledged it for
// this long and every gate that did has answered (or ctx ended).
const DefaultRegionQuiet = 100 * time.Millisecond

// RegionOption tunes RegionCallAll.
type RegionOption func(*regionOptions)

type regionOptions struct {
	quiet time.Duration
}

// RegionQuiet sets how long RegionCallAll waits for the acknowledgement of
// a gate it has not heard of yet (default DefaultRegionQuiet). Gates
// acknowledge a call as soon as it arrives, before running the action, so
// this bounds the broker's latency, not the action's.
func RegionQuiet(d time.Duration) RegionOption {
	return func(o *regionOptions) {
		if d > 0 {
			o.quiet = d
		}
	}
}

// RegionCall calls the region action bizCode on the gate gateID and
// returns its response. Without a deadline on ctx, the caller's client
// gives up after its CallTimeout, and the gate runs the action under the
// same limit. An error of the action comes back as an *errs.Error (a
// bizCode the gate does not serve: errs.CodeRouteNotFound); no such gate:
// ErrOffline.
func RegionCall[Req, Resp any](ctx context.Context, caller Caller, gateID string, bizCode int32, req Req) (Resp, error) {
	var zero Resp
	out, err := wire.ValueOf[Resp]()
	if err != nil {
		return zero, fmt.Errorf("logic: region %d: %w", bizCode, err)
	}
	if gateID == "" {
		return zero, fmt.Errorf("logic: region %d: no gate ID", bizCode)
	}
	cl, msg, err := regionMsg(caller, fabric.GateExternal(gateID, bizCode), bizCode, req)
	if err != nil {
		return zero, err
	}
	ctx, cancel := cl.withTimeout(ctx)
	defer cancel()
	setTimeout(ctx, msg)
	reply, err := cl.nc.RequestMsgWithContext(ctx, msg)
	if err == nil && fabric.IsNoResponders(reply) {
		err = nats.ErrNoResponders
	}
	if errors.Is(err, nats.ErrNoResponders) {
		return zero, fmt.Errorf("%w: gate %s", ErrOffline, gateID)
	}
	if err != nil {
		return zero, fmt.Errorf("logic: region %d on gate %s: no reply: %w", bizCode, gateID, err)
	}
	return decodeReply(reply, out)
}

// RegionCallUser calls the region action bizCode on the gate that holds
// userID's session, like RegionCall; ErrOffline when no gate holds the
// user.
func RegionCallUser[Req, Resp any](ctx context.Context, caller Caller, userID int64, bizCode int32, req Req) (Resp, error) {
	var zero Resp
	cl, _, err := caller.callMeta()
	if err != nil {
		return zero, err
	}
	ctx, cancel := cl.withTimeout(ctx)
	defer cancel()
	rep, err := cl.control(ctx, fabric.UserControl(userID), fabric.Control{Op: fabric.OpOnline, User: userID})
	if err != nil {
		return zero, err
	}
	if rep.Gate == "" {
		return zero, ErrOffline
	}
	return RegionCall[Req, Resp](ctx, caller, rep.Gate, bizCode, req)
}

// RegionCallAll calls the region action bizCode on every gate and collects
// their answers, one InstanceReply per gate (Instance is the gate ID), in
// arrival order. A gate acknowledges the call as soon as it arrives, then
// answers; the call returns when no new gate has acknowledged it for the
// quiet time (RegionQuiet) and every gate that did has answered, or when
// ctx ends (without a deadline, after the caller's CallTimeout): then
// Partial is set and Missing lists the gates that acknowledged but did not
// answer. An error of one gate (a bizCode it does not serve:
// errs.CodeRouteNotFound) is in its InstanceReply; RegionCallAll fails only
// if the call cannot be sent. No gate at all: no replies, no error.
func RegionCallAll[Req, Resp any](ctx context.Context, caller Caller, bizCode int32, req Req, opts ...RegionOption) (AllResult[Resp], error) {
	var res AllResult[Resp]
	o := regionOptions{quiet: DefaultRegionQuiet}
	for _, opt := range opts {
		opt(&o)
	}
	out, err := wire.ValueOf[Resp]()
	if err != nil {
		return res, fmt.Errorf("logic: region %d: %w", bizCode, err)
	}
	cl, msg, err := regionMsg(caller, fabric.External(bizCode), bizCode, req)
	if err != nil {
		return res, err
	}
	ctx, cancel := cl.withTimeout(ctx)
	defer cancel()
	msg.Reply = cl.nc.NewInbox()
	replies, err := cl.nc.SubscribeSync(msg.Reply)
	if err != nil {
		return res, fmt.Errorf("logic: region %d: %w", bizCode, err)
	}
	defer func() { _ = replies.Unsubscribe() }()
	setTimeout(ctx, msg)
	if err := cl.nc.PublishMsg(msg); err != nil {
		return res, fmt.Errorf("logic: region %d: %w", bizCode, err)
	}
	waiting := map[string]bool{}
	known := map[string]bool{}
	quietUntil := time.Now().Add(o.quiet)
	for {
		wctx, wcancel := ctx, context.CancelFunc(func() {})
		if len(waiting) == 0 {
			if !time.Now().Before(quietUntil) {
				break
			}
			wctx, wcancel = context.WithDeadline(ctx, quietUntil)
		}
		m, err := replies.NextMsgWithContext(wctx)
		wcancel()
		if err != nil {
			if ctx.Err() != nil {
				break // out of time: a partial result
			}
			continue // quiet: the loop ends above
		}
		gate := m.Header.Get(fabric.HeaderInstance)
		if gate == "" {
			continue
		}
		if m.Header.Get(fabric.HeaderAck) != "" {
			if !known[gate] {
				known[gate], waiting[gate] = true, true
				quietUntil = time.Now().Add(o.quiet)
			}
			continue
		}
		if !waiting[gate] && known[gate] {
			continue // a duplicate answer
		}
		known[gate] = true
		delete(waiting, gate)
		r := InstanceReply[Resp]{Instance: gate}
		r.Value, r.Err = decodeReply(m, out)
		res.Replies = append(res.Replies, r)
	}
	for id := range waiting {
		res.Missing = append(res.Missing, id)
	}
	slices.Sort(res.Missing)
	res.Partial = len(res.Missing) > 0
	return res, nil
}

// regionMsg builds the request message of a region call by caller.
func regionMsg[Req any](caller Caller, subject string, bizCode int32, req Req) (*Client, *nats.Msg, error) {
	return requestMsg(caller, subject, requestLabel{kind: "region", cmd: bizCode}, req)
}
