package logic

import (
	"context"
	"fmt"
	"strconv"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/trace"
	"github.com/iogo-dev/iogo/proto/iohao"
	"github.com/nats-io/nats.go"
	oteltrace "go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
)

// Push sends msg to userID on route (cmd, sub): the external server holding
// the user relays it as an envelope with msgId 0, in the session's codec.
// A push to a user who is offline is dropped; Push does not wait for
// delivery. Send bare values with Wrap; declare the push with
// route.DeclarePush so that client SDKs know it.
func (cl *Client) Push(ctx context.Context, userID int64, cmd, sub int32, msg proto.Message) error {
	return cl.PushTo(ctx, []int64{userID}, cmd, sub, msg)
}

// PushTo sends msg to each of userIDs, like Push; the message is encoded
// once.
func (cl *Client) PushTo(ctx context.Context, userIDs []int64, cmd, sub int32, msg proto.Message) error {
	if len(userIDs) == 0 {
		return nil
	}
	m, err := pushMsg(cmd, sub, msg)
	if err != nil {
		return err
	}
	if cl.tr != nil {
		span := cl.traceOut(ctx, "push "+routeName(cmd, sub), oteltrace.SpanKindProducer, m.Header,
			trace.AttrRoute.String(routeName(cmd, sub)))
		defer span.End()
	}
	for _, u := range userIDs {
		if err := ctx.Err(); err != nil {
			return err
		}
		m.Subject = fabric.UserPush(u)
		if err := cl.nc.PublishMsg(m); err != nil {
			return fmt.Errorf("logic: push %d-%d to %d: %w", cmd, sub, u, err)
		}
	}
	return nil
}

// PushAll sends msg to every connected session of every external server,
// logged in or not.
func (cl *Client) PushAll(ctx context.Context, cmd, sub int32, msg proto.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m, err := pushMsg(cmd, sub, msg)
	if err != nil {
		return err
	}
	m.Subject = fabric.PushAll
	if cl.tr != nil {
		span := cl.traceOut(ctx, "push-all "+routeName(cmd, sub), oteltrace.SpanKindProducer, m.Header,
			trace.AttrRoute.String(routeName(cmd, sub)))
		defer span.End()
	}
	if err := cl.nc.PublishMsg(m); err != nil {
		return fmt.Errorf("logic: push %d-%d to all: %w", cmd, sub, err)
	}
	return nil
}

// pushMsg encodes a push: the protobuf payload with its route and message
// type in headers (fabric.HeaderRoute, fabric.HeaderType).
func pushMsg(cmd, sub int32, msg proto.Message) (*nats.Msg, error) {
	if cmd < 0 || cmd > maxCmd || sub < 0 || sub > 0xffff {
		return nil, fmt.Errorf("logic: push route %d-%d out of range", cmd, sub)
	}
	h := nats.Header{fabric.HeaderRoute: {strconv.FormatInt(int64(cmd<<16|sub), 10)}}
	var data []byte
	if msg != nil {
		pr := msg.ProtoReflect()
		h[fabric.HeaderType] = []string{string(pr.Descriptor().FullName())}
		if pr.IsValid() {
			var err error
			if data, err = proto.Marshal(msg); err != nil {
				return nil, fmt.Errorf("logic: push %d-%d: %w", cmd, sub, err)
			}
		}
	}
	return &nats.Msg{Header: h, Data: data}, nil
}

// Bare is the bare value types a route may carry in ioGame's wrappers.
type Bare interface {
	int32 | int64 | bool | string | []int32 | []int64 | []bool | []string
}

// Wrap returns the ioGame wrapper message of a bare value, the form in
// which handlers' bare values travel (see wire.ValueOf): int32 as
// iohao.IntValue, int64 as LongValue, bool as BoolValue, string as
// StringValue, and slices as the *ValueList forms. Use it to push a bare
// value.
func Wrap[T Bare](v T) proto.Message {
	switch x := any(v).(type) {
	case int32:
		return &iohao.IntValue{Value: x}
	case int64:
		return &iohao.LongValue{Value: x}
	case bool:
		return &iohao.BoolValue{Value: x}
	case string:
		return &iohao.StringValue{Value: x}
	case []int32:
		return &iohao.IntValueList{Values: x}
	case []int64:
		return &iohao.LongValueList{Values: x}
	case []bool:
		return &iohao.BoolValueList{Values: x}
	case []string:
		return &iohao.StringValueList{Values: x}
	}
	panic("unreachable") // the constraint admits no other type
}

// Push sends msg on route (cmd, sub) to the request's user.
func (c *Ctx) Push(cmd, sub int32, msg proto.Message) error {
	if c.meta.UserID == 0 {
		return errs.ErrLoginRequired
	}
	cl, err := c.cl()
	if err != nil {
		return err
	}
	return cl.Push(c.ctx, c.meta.UserID, cmd, sub, msg)
}

// PushTo sends msg on route (cmd, sub) to each of userIDs (Client.PushTo).
func (c *Ctx) PushTo(userIDs []int64, cmd, sub int32, msg proto.Message) error {
	cl, err := c.cl()
	if err != nil {
		return err
	}
	return cl.PushTo(c.ctx, userIDs, cmd, sub, msg)
}

// PushAll sends msg on route (cmd, sub) to every connected session
// (Client.PushAll).
func (c *Ctx) PushAll(cmd, sub int32, msg proto.Message) error {
	cl, err := c.cl()
	if err != nil {
		return err
	}
	return cl.PushAll(c.ctx, cmd, sub, msg)
}
