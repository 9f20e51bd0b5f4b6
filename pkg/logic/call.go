package logic

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/trace"
	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/nats-io/nats.go"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// MaxCallDepth bounds the nesting of server-to-server calls; a call that
// would be deeper fails at once with ErrCallDepth.
const MaxCallDepth = 16

// ErrCallDepth is returned by a call nested deeper than MaxCallDepth, most
// likely a call loop.
var ErrCallDepth = errs.ErrSystem.WithMsg("server-to-server calls nested too deep")

// A Caller makes server-to-server calls, on behalf of a user or of none:
//   - a *Client calls on behalf of no user (Client.As names one);
//   - a *Ctx calls on behalf of its request's user and carries its
//     metadata (session attributes, msgId).
//
// Only this package implements Caller.
type Caller interface {
	// callMeta returns the client to send with and the metadata of a call
	// made by this caller, route fields unset.
	callMeta() (*Client, fabric.Meta, error)
}

// As returns a Caller that calls on behalf of userID: the serving handler
// sees it as Ctx.UserID, and the call runs in that user's order among the
// user's calls.
func (cl *Client) As(userID int64) Caller { return userCaller{cl: cl, user: userID} }

type userCaller struct {
	cl   *Client
	user int64
}

func (u userCaller) callMeta() (*Client, fabric.Meta, error) {
	cl, m, err := u.cl.callMeta()
	m.UserID = u.user
	return cl, m, err
}

func (cl *Client) callMeta() (*Client, fabric.Meta, error) {
	return cl, fabric.Meta{Depth: 1, MsgID: int32(rand.Uint32())}, nil
}

func (c *Ctx) callMeta() (*Client, fabric.Meta, error) {
	cl, err := c.cl()
	if err != nil {
		return nil, fabric.Meta{}, err
	}
	if c.meta.Depth >= MaxCallDepth {
		return nil, fabric.Meta{}, ErrCallDepth
	}
	m := c.meta
	m.Gate, m.Session, m.Codec = "", 0, ""
	m.Depth++
	if m.UserID == 0 {
		m.MsgID = int32(rand.Uint32())
	}
	return cl, m, nil
}

// callKey is the executor key of a server-to-server call (a request with
// no gate): the user's at the call's depth, apart from the user's client
// requests (depth 0); without a user, the random MsgID spreads calls over
// executors so that they run in parallel. See the package documentation.
func callKey(m *fabric.Meta) execKey {
	depth := max(m.Depth, 1)
	if m.UserID != 0 {
		return execKey{user: m.UserID, depth: depth}
	}
	return execKey{sid: uint64(uint32(m.MsgID)), depth: depth}
}

// Call sends req to route (cmd, sub) and returns the response, served by
// one instance of the service that owns the route (player-to-logic-server
// bindings do not apply to calls). Without a deadline on ctx, the caller's
// client gives up after its CallTimeout.
//
// An error answered by the handler comes back as an *errs.Error with the
// same code, so errors.Is matches the sentinel the handler returned. A
// route that no live server serves fails with errs.ErrRouteNotFound; no
// answer in time with an error wrapping context.DeadlineExceeded.
//
// From a handler: logic.Call[*pb.Req, *pb.Resp](c.Context(), c, cmd, sub, req).
func Call[Req, Resp any](ctx context.Context, caller Caller, cmd, sub int32, req Req) (Resp, error) {
	var zero Resp
	out, err := wire.ValueOf[Resp]()
	if err != nil {
		return zero, fmt.Errorf("logic: call %d-%d: %w", cmd, sub, err)
	}
	cl, msg, err := callMsg(caller, fabric.Request(cmd, sub), cmd, sub, req)
	if err != nil {
		return zero, err
	}
	var span oteltrace.Span
	if cl.tr != nil {
		span = cl.traceOut(ctx, "call "+routeName(cmd, sub), oteltrace.SpanKindClient, msg.Header,
			trace.AttrRoute.String(routeName(cmd, sub)), trace.AttrUser.Int64(callUser(msg)))
	}
	ctx, cancel := cl.withTimeout(ctx)
	defer cancel()
	setTimeout(ctx, msg)
	reply, err := cl.nc.RequestMsgWithContext(ctx, msg)
	if err == nil && fabric.IsNoResponders(reply) {
		err = nats.ErrNoResponders
	}
	var v Resp
	if err != nil {
		err = callError(cmd, sub, err)
	} else {
		v, err = decodeReply(reply, out)
	}
	if span != nil {
		endCall(span, err)
	}
	return v, err
}

// Send sends req to route (cmd, sub), served by one instance of the service
// that owns the route, and returns without waiting: request/void. Nothing
// comes back, not even an error of the handler; a request that finds no
// server is lost (at most once).
func Send[Req any](ctx context.Context, caller Caller, cmd, sub int32, req Req) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cl, msg, err := callMsg(caller, fabric.Request(cmd, sub), cmd, sub, req)
	if err != nil {
		return err
	}
	if cl.tr != nil {
		span := cl.traceOut(ctx, "send "+routeName(cmd, sub), oteltrace.SpanKindProducer, msg.Header,
			trace.AttrRoute.String(routeName(cmd, sub)))
		defer span.End()
	}
	if err := cl.nc.PublishMsg(msg); err != nil {
		return fmt.Errorf("logic: send %d-%d: %w", cmd, sub, err)
	}
	return nil
}

// AllResult is the outcome of CallAll.
type AllResult[Resp any] struct {
	// Replies holds one reply per instance that answered, in arrival
	// order.
	Replies []InstanceReply[Resp]
	// Partial is true when some instance expected to answer did not
	// answer in time.
	Partial bool
	// Missing lists those instances, sorted.
	Missing []string
}

// InstanceReply is the answer of one instance to CallAll.
type InstanceReply[Resp any] struct {
	// Instance is the answering instance's ID.
	Instance string
	// Value is the response when Err is nil.
	Value Resp
	// Err is the instance's error: an *errs.Error as with Call.
	Err error
}

// CallAll sends req to route (cmd, sub) on every live instance of the
// service that owns it (request/multiple_response) and collects their
// answers. The instances expected to answer are those the registry lists
// for the route when the call starts; an instance that starts meanwhile and
// answers is included too. CallAll returns when every expected instance has
// answered, or when ctx ends (without a deadline, after the caller's
// CallTimeout): then Partial is set and Missing names the silent
// instances. An error of one instance is reported in its InstanceReply;
// CallAll itself fails only if the request cannot be sent, or with
// errs.ErrRouteNotFound if no live instance serves the route.
func CallAll[Req, Resp any](ctx context.Context, caller Caller, cmd, sub int32, req Req) (AllResult[Resp], error) {
	var res AllResult[Resp]
	out, err := wire.ValueOf[Resp]()
	if err != nil {
		return res, fmt.Errorf("logic: call all %d-%d: %w", cmd, sub, err)
	}
	cl, msg, err := callMsg(caller, fabric.All(cmd, sub), cmd, sub, req)
	if err != nil {
		return res, err
	}
	if cl.tr != nil {
		span := cl.traceOut(ctx, "call-all "+routeName(cmd, sub), oteltrace.SpanKindClient, msg.Header,
			trace.AttrRoute.String(routeName(cmd, sub)))
		defer span.End()
	}
	ctx, cancel := cl.withTimeout(ctx)
	defer cancel()
	expected, err := cl.servingInstances(ctx, cmd, sub)
	if err != nil {
		return res, err
	}
	if len(expected) == 0 {
		return res, routeNotFound(cmd, sub)
	}
	msg.Reply = cl.nc.NewInbox()
	replies, err := cl.nc.SubscribeSync(msg.Reply)
	if err != nil {
		return res, fmt.Errorf("logic: call all %d-%d: %w", cmd, sub, err)
	}
	defer func() { _ = replies.Unsubscribe() }()
	setTimeout(ctx, msg)
	if err := cl.nc.PublishMsg(msg); err != nil {
		return res, fmt.Errorf("logic: call all %d-%d: %w", cmd, sub, err)
	}
	waiting := make(map[string]bool, len(expected))
	for _, id := range expected {
		waiting[id] = true
	}
	answered := make(map[string]bool, len(expected))
	for len(waiting) > 0 {
		m, err := replies.NextMsgWithContext(ctx)
		if err != nil {
			break // ctx ended: a partial result
		}
		r := InstanceReply[Resp]{Instance: m.Header.Get(fabric.HeaderInstance)}
		if answered[r.Instance] {
			continue
		}
		answered[r.Instance] = true
		delete(waiting, r.Instance)
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

// servingInstances returns the IDs of the live instances that serve route
// (cmd, sub), sorted.
func (cl *Client) servingInstances(ctx context.Context, cmd, sub int32) ([]string, error) {
	all, err := cl.reg.Instances(ctx)
	if err != nil {
		return nil, fmt.Errorf("logic: call all %d-%d: registry: %w", cmd, sub, err)
	}
	merge := wire.Merge(cmd, sub)
	var ids []string
	for _, in := range all {
		if slices.Contains(in.Routes, merge) {
			ids = append(ids, in.ID)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// setTimeout tells the serving logic server how long the caller waits
// (fabric.HeaderTimeout): the time left before ctx's deadline.
func setTimeout(ctx context.Context, msg *nats.Msg) {
	if d, ok := ctx.Deadline(); ok {
		msg.Header[fabric.HeaderTimeout] = []string{strconv.FormatInt(max(1, time.Until(d).Milliseconds()), 10)}
	}
}

// callMsg builds the request message of a call by caller on subject.
func callMsg[Req any](caller Caller, subject string, cmd, sub int32, req Req) (*Client, *nats.Msg, error) {
	if cmd < 0 || cmd > maxCmd || sub < 0 || sub > 0xffff {
		return nil, nil, fmt.Errorf("logic: call: route %d-%d out of range", cmd, sub)
	}
	return requestMsg(caller, subject, requestLabel{kind: "call", cmd: cmd, sub: sub, route: true}, req)
}

// requestLabel names a call (a route) or a region call (a bizCode, in cmd)
// in errors; it is formatted only when there is one.
type requestLabel struct {
	kind     string
	cmd, sub int32
	route    bool
}

func (l requestLabel) String() string {
	if l.route {
		return fmt.Sprintf("%s %d-%d", l.kind, l.cmd, l.sub)
	}
	return fmt.Sprintf("%s %d", l.kind, l.cmd)
}

// requestMsg builds the message of a call or region call by caller on
// subject: the caller's metadata with l's route (none for a region call)
// and req in protobuf.
func requestMsg[Req any](caller Caller, subject string, l requestLabel, req Req) (*Client, *nats.Msg, error) {
	if caller == nil {
		return nil, nil, fmt.Errorf("logic: %s: nil Caller", l.kind)
	}
	cl, meta, err := caller.callMeta()
	if err == nil && cl == nil {
		err = fmt.Errorf("logic: %s: nil Client", l.kind)
	}
	if err != nil {
		return nil, nil, err
	}
	in, err := wire.ValueOf[Req]()
	if err != nil {
		return nil, nil, fmt.Errorf("logic: %v: %w", l, err)
	}
	data, err := in.Append(nil, wire.Protobuf{}, req)
	if err != nil {
		return nil, nil, fmt.Errorf("logic: %v: encode request: %w", l, err)
	}
	meta.Cmd, meta.Sub = 0, 0
	if l.route {
		meta.Cmd, meta.Sub = l.cmd, l.sub
	}
	return cl, &nats.Msg{Subject: subject, Header: meta.Header(), Data: data}, nil
}

// decodeReply turns a logic server's reply into the response or the error
// it carries.
func decodeReply[Resp any](m *nats.Msg, out wire.Value[Resp]) (Resp, error) {
	var zero Resp
	r, err := fabric.ParseReply(m.Header)
	if err != nil {
		return zero, fmt.Errorf("logic: bad reply: %w", err)
	}
	if r.Status != 0 {
		return zero, &errs.Error{Code: r.Status, Msg: r.Error}
	}
	v, err := out.Unmarshal(m.Data, wire.Protobuf{})
	if err != nil {
		return zero, fmt.Errorf("logic: decode response: %w", err)
	}
	return v, nil
}

func callError(cmd, sub int32, err error) error {
	if errors.Is(err, nats.ErrNoResponders) {
		return routeNotFound(cmd, sub)
	}
	return fmt.Errorf("logic: call %d-%d: no reply: %w", cmd, sub, err)
}

func routeNotFound(cmd, sub int32) error {
	return errs.ErrRouteNotFound.WithMsg(fmt.Sprintf("route %d-%d: no live server serves it", cmd, sub))
}

// subscribeBus subscribes, at Start, the fan-out subject of every route
// (CallAll), into the dispatch loop like the routes' own subjects and
// without a queue group, then the event subscriptions.
func (s *Server) subscribeBus(ctx context.Context) error {
	for _, r := range s.table.Routes() {
		sub, err := s.nc.ChanSubscribe(fabric.All(r.Cmd, r.Sub), s.in)
		if err != nil {
			return fmt.Errorf("logic: subscribe %s: %w", r.String(), err)
		}
		s.subs = append(s.subs, sub)
	}
	return s.subscribeEvents(ctx)
}
