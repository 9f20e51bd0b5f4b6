package logic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/trace"
	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/nats-io/nats.go"
	oteltrace "go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
)

// Delivery says which instances of a subscribing service receive an event.
type Delivery uint8

const (
	// EveryInstance delivers each event to every running instance of the
	// service (a broadcast: caches, local state). At most once: an instance
	// that is down misses the event. The default.
	EveryInstance Delivery = iota
	// OnePerService delivers each event to one running instance of the
	// service (a queue group named after the service). At most once: with
	// no instance running, the event is lost.
	OnePerService
	// Durable delivers each event to one instance of the service at least
	// once. The events of the topic are kept by the durable bus
	// (Config.DurableBus): by default a JetStream stream
	// (fabric.EventStream) read through a durable consumer named after the
	// service; Kafka with package eventbus. Events published while no
	// instance runs are delivered when one starts, an event is
	// acknowledged only once its handler returns nil, and one whose
	// handler fails, panics or never finishes (a crash) is delivered
	// again, with a growing delay. Only PublishDurable is sure to reach a
	// durable subscriber (on JetStream a plain Publish is stored too once
	// the topic's stream exists; on Kafka it is not).
	Durable
)

var deliveryNames = [...]string{EveryInstance: "every-instance", OnePerService: "one-per-service", Durable: "durable"}

// String returns "every-instance", "one-per-service" or "durable".
func (d Delivery) String() string {
	if int(d) < len(deliveryNames) {
		return deliveryNames[d]
	}
	return fmt.Sprintf("delivery(%d)", uint8(d))
}

// Defaults of the event bus.
const (
	// DefaultEventRetention is how long the stream of a durable topic
	// keeps an event that no subscriber has consumed.
	DefaultEventRetention = 7 * 24 * time.Hour
	// DefaultEventAckWait is how long a durable event may stay
	// unacknowledged before it is delivered again.
	DefaultEventAckWait = 30 * time.Second
)

// ErrBadEvent is returned by an EventHandler whose payload does not decode
// into the subscription's type. Such an event is dropped (a durable one is
// terminated), not retried.
var ErrBadEvent = errors.New("logic: malformed event payload")

// EventHandler is the erased form of an event handler: it decodes the
// payload and runs the business code.
type EventHandler func(c *Ctx, data []byte) error

// Subscription is one topic a service subscribes to.
type Subscription struct {
	// Topic is the event-bus topic (see fabric.ValidTopic).
	Topic string
	// Delivery says which instances receive each event.
	Delivery Delivery
	// Type is the protobuf full name of the payload; events whose
	// fabric.HeaderType names another type are dropped. "bytes" accepts
	// any payload.
	Type string
	// MaxAttempts, for a Durable subscription, is the number of
	// deliveries (as the durable bus counts them: DurableEvent.Attempt)
	// after which an event whose handler still fails, or never finished
	// (a crash), is given up: published on the dead-letter topic
	// (fabric.DeadLetterTopic(service, Topic)) through the durable bus and
	// acknowledged, so that the events behind it go on. An event the
	// handler cannot decode (ErrBadEvent) goes there at once. If the
	// dead-letter publication fails, the event is delivered again. 0: no
	// dead letters; a failing event is delivered again forever and a
	// malformed one is dropped.
	MaxAttempts int
	// Handler handles one event.
	Handler EventHandler
	// Doc is the subscription's documentation.
	Doc string
	// Func, File and Line locate the business handler's source.
	Func string
	File string
	Line int
}

// Source returns "file:line" of the business handler.
func (sb *Subscription) Source() string { return source(sb.File, sb.Line) }

// An EventSource supplies the event subscriptions of a service; a
// RouteSource that is also an EventSource (as *route.Router is) has its
// subscriptions served by the logic server.
type EventSource interface {
	Events() []Subscription
}

// serve runs the handler for one event. A panic is recovered, logged with
// its stack and returned as errs.ErrSystem.
func (sb *Subscription) serve(c *Ctx, data []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			c.logger().LogAttrs(c.Context(), slog.LevelError, "event handler panic",
				slog.String("topic", sb.Topic), slog.String("handler", sb.Func),
				slog.String("source", sb.Source()), slog.Any("panic", p),
				slog.String("stack", string(debug.Stack())))
			err = errs.ErrSystem
		}
	}()
	return sb.Handler(c, data)
}

// Publish sends msg to the subscribers of topic, on behalf of no user. It
// does not wait: an event that nobody subscribes to is lost, and one that
// a durable subscriber's stream exists for is stored there. Send bare
// values with Wrap.
func (cl *Client) Publish(ctx context.Context, topic string, msg proto.Message) error {
	return cl.publish(ctx, topic, msg, 0, false)
}

// PublishDurable sends msg to the subscribers of topic and returns once
// the durable bus has stored it — by default in the topic's JetStream
// stream, which it creates if no durable subscriber has yet: a Durable
// subscriber that starts later still receives it. Subscribers that are not
// durable receive it too.
func (cl *Client) PublishDurable(ctx context.Context, topic string, msg proto.Message) error {
	return cl.publish(ctx, topic, msg, 0, true)
}

// Publish sends msg to the subscribers of topic on behalf of the request's
// user (Client.Publish); subscribers see the user as Ctx.UserID.
func (c *Ctx) Publish(topic string, msg proto.Message) error {
	cl, err := c.cl()
	if err != nil {
		return err
	}
	return cl.publish(c.ctx, topic, msg, c.meta.UserID, false)
}

// PublishDurable is Client.PublishDurable on behalf of the request's user.
func (c *Ctx) PublishDurable(topic string, msg proto.Message) error {
	cl, err := c.cl()
	if err != nil {
		return err
	}
	return cl.publish(c.ctx, topic, msg, c.meta.UserID, true)
}

func (cl *Client) publish(ctx context.Context, topic string, msg proto.Message, user int64, durable bool) error {
	if err := fabric.ValidTopic(topic); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	meta := fabric.EventMeta{UserID: user}
	var data []byte
	var err error
	if meta.Type, data, err = marshalTyped(msg); err != nil {
		return fmt.Errorf("logic: publish %s: %w", topic, err)
	}
	m := &nats.Msg{Subject: fabric.Event(topic), Header: meta.Header(), Data: data}
	if cl.tr != nil {
		span := cl.traceOut(ctx, "publish "+topic, oteltrace.SpanKindProducer, m.Header,
			trace.AttrTopic.String(topic), trace.AttrUser.Int64(user))
		defer span.End()
	}
	if !durable {
		if err := cl.nc.PublishMsg(m); err != nil {
			return fmt.Errorf("logic: publish %s: %w", topic, err)
		}
		return nil
	}
	ctx, cancel := cl.withTimeout(ctx)
	defer cancel()
	if err := cl.durable.Publish(ctx, &DurableEvent{Topic: topic, Header: m.Header, Data: data}); err != nil {
		return fmt.Errorf("logic: publish %s durably: %w", topic, err)
	}
	if _, ok := cl.durable.(*jetStreamBus); !ok {
		// JetStream stores what is published on the event subject, so
		// that one publication reaches both kinds of subscriber; another
		// bus stores it apart, and the subscribers that are not durable
		// get it from NATS, once it is stored.
		if err := cl.nc.PublishMsg(m); err != nil {
			return fmt.Errorf("logic: publish %s: %w", topic, err)
		}
	}
	return nil
}

// marshalTyped encodes msg in protobuf and returns its full type name; a
// nil message has neither, a nil pointer of a type is empty.
func marshalTyped(msg proto.Message) (typeName string, data []byte, err error) {
	if msg == nil {
		return "", nil, nil
	}
	pr := msg.ProtoReflect()
	if pr.IsValid() {
		data, err = proto.Marshal(msg)
	}
	return string(pr.Descriptor().FullName()), data, err
}

// eventSubs are a server's running event subscriptions.
type eventSubs struct {
	subs []*nats.Subscription // EveryInstance and OnePerService
	cons []DurableConsumer    // Durable
}

// subscribeEvents starts the router's event subscriptions. On error, the
// ones already started are stopped.
func (s *Server) subscribeEvents(ctx context.Context) error {
	es, ok := s.cfg.Router.(EventSource)
	if !ok {
		return nil
	}
	for _, sb := range es.Events() {
		err := s.subscribeEvent(ctx, &sb)
		if err != nil {
			s.events.unsubscribe()
			return fmt.Errorf("logic: subscribe topic %s: %w", sb.Topic, err)
		}
	}
	return nil
}

func (s *Server) subscribeEvent(ctx context.Context, sb *Subscription) error {
	if err := fabric.ValidTopic(sb.Topic); err != nil {
		return err
	}
	subject := fabric.Event(sb.Topic)
	switch sb.Delivery {
	case EveryInstance, OnePerService:
		handle := func(m *nats.Msg) {
			switch err := s.serveEvent(sb, m.Header, m.Data); {
			case errors.Is(err, ErrBadEvent):
				s.log.Warn("event dropped", slog.String("topic", sb.Topic), slog.Any("error", err))
			case err != nil:
				s.log.Warn("event handler failed", slog.String("topic", sb.Topic), slog.Any("error", err))
			}
		}
		var sub *nats.Subscription
		var err error
		if sb.Delivery == EveryInstance {
			sub, err = s.nc.Subscribe(subject, handle)
		} else {
			sub, err = s.nc.QueueSubscribe(subject, fabric.Queue(s.cfg.Service), handle)
		}
		if err != nil {
			return err
		}
		s.events.subs = append(s.events.subs, sub)
		return nil
	case Durable:
		if sb.MaxAttempts < 0 {
			return fmt.Errorf("MaxAttempts %d is negative", sb.MaxAttempts)
		}
		if sb.MaxAttempts > 0 {
			if err := fabric.ValidTopic(fabric.DeadLetterTopic(s.cfg.Service, sb.Topic)); err != nil {
				return fmt.Errorf("dead-letter topic: %w", err)
			}
		}
		cons, err := s.client.durable.Consume(ctx, sb.Topic, s.cfg.Service, func(ev *DurableEvent) error {
			return s.serveDurable(sb, ev)
		})
		if err != nil {
			return err
		}
		s.events.cons = append(s.events.cons, cons)
		return nil
	}
	return fmt.Errorf("unknown delivery %v", sb.Delivery)
}

// deadLetterTimeout bounds the publication of a dead letter.
const deadLetterTimeout = 10 * time.Second

// serveDurable handles one durable event; the bus acknowledges it when
// it returns nil or ErrBadEvent, and delivers it again otherwise. An event
// given up on (Subscription.MaxAttempts) is dead-lettered, then
// acknowledged.
func (s *Server) serveDurable(sb *Subscription, ev *DurableEvent) error {
	var err error
	if sb.MaxAttempts > 0 && ev.Attempt > sb.MaxAttempts {
		// Delivered more often than it was handled: earlier deliveries
		// never finished (a crash, a handler past AckWait). Give up
		// without running it again.
		err = fmt.Errorf("logic: delivered %d times, more than MaxAttempts %d, without the handler finishing",
			ev.Attempt, sb.MaxAttempts)
	} else if err = s.serveEvent(sb, ev.Header, ev.Data); err == nil {
		return nil
	}
	bad := errors.Is(err, ErrBadEvent)
	if sb.MaxAttempts > 0 && (bad || ev.Attempt >= sb.MaxAttempts) {
		dead := fabric.DeadLetterTopic(s.cfg.Service, sb.Topic)
		if derr := s.deadLetter(dead, sb, ev, err); derr != nil {
			s.log.Error("event not dead-lettered; redelivering", slog.String("topic", sb.Topic),
				slog.String("dead_letter_topic", dead), slog.Int("delivery", ev.Attempt),
				slog.Any("error", err), slog.Any("dead_letter_error", derr))
			return fmt.Errorf("logic: dead letter: %w", derr) // not ErrBadEvent: delivered again
		}
		s.log.Warn("event dead-lettered", slog.String("topic", sb.Topic),
			slog.String("dead_letter_topic", dead), slog.Int("delivery", ev.Attempt), slog.Any("error", err))
		return nil
	}
	if bad {
		s.log.Warn("event dropped", slog.String("topic", sb.Topic), slog.Any("error", err))
	} else {
		s.log.Warn("event handler failed; redelivering", slog.String("topic", sb.Topic),
			slog.Int("delivery", ev.Attempt), slog.Any("error", err))
	}
	return err
}

// deadLetter publishes ev on topic dead with the fabric.HeaderDead*
// headers added to its own.
func (s *Server) deadLetter(dead string, sb *Subscription, ev *DurableEvent, cause error) error {
	h := maps.Clone(ev.Header) // Set replaces values; the event's own stay as they are
	if h == nil {
		h = nats.Header{}
	}
	h.Set(fabric.HeaderDeadTopic, sb.Topic)
	h.Set(fabric.HeaderDeadService, s.cfg.Service)
	h.Set(fabric.HeaderDeadAttempts, strconv.Itoa(ev.Attempt))
	h.Set(fabric.HeaderDeadError, oneLine(cause.Error(), fabric.MaxDeadError))
	h.Set(fabric.HeaderDeadAt, strconv.FormatInt(time.Now().UnixMilli(), 10))
	ctx, cancel := context.WithTimeout(s.ctx, deadLetterTimeout)
	defer cancel()
	return s.client.durable.Publish(ctx, &DurableEvent{Topic: dead, Header: h, Data: ev.Data})
}

// oneLine returns s with line breaks as spaces, cut to at most limit
// bytes on a rune boundary: a header value.
func oneLine(s string, limit int) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
	if len(s) <= limit {
		return s
	}
	for limit > 0 && !utf8.RuneStart(s[limit]) {
		limit--
	}
	return s[:limit]
}

// DeadLetter describes an event that a durable subscription gave up on
// (Subscription.MaxAttempts); see Ctx.DeadLetter.
type DeadLetter struct {
	// Topic is the topic the event was published on.
	Topic string
	// Service is the service whose handler gave up.
	Service string
	// Attempts is how many deliveries the event had there.
	Attempts int
	// Error is the handler's last error.
	Error string
	// At is when the event was given up.
	At time.Time
}

// DeadLetter returns, in the handler of an event from a dead-letter topic
// (fabric.DeadLetterTopic), where the event came from and why it was
// given up; false for any other event or request.
func (c *Ctx) DeadLetter() (DeadLetter, bool) {
	h := c.event
	topic := h.Get(fabric.HeaderDeadTopic)
	if topic == "" {
		return DeadLetter{}, false
	}
	d := DeadLetter{Topic: topic, Service: h.Get(fabric.HeaderDeadService), Error: h.Get(fabric.HeaderDeadError)}
	d.Attempts, _ = strconv.Atoi(h.Get(fabric.HeaderDeadAttempts))
	if ms, err := strconv.ParseInt(h.Get(fabric.HeaderDeadAt), 10, 64); err == nil {
		d.At = time.UnixMilli(ms)
	}
	return d, true
}

// serveEvent runs the subscription's handler for one event with a Ctx of
// its own. It returns an error wrapping ErrBadEvent for an event it cannot
// decode.
func (s *Server) serveEvent(sb *Subscription, h nats.Header, data []byte) error {
	em, err := fabric.ParseEventMeta(h)
	if err == nil && em.Type != "" && sb.Type != "bytes" && em.Type != sb.Type {
		err = fmt.Errorf("payload type %s, subscription takes %s", em.Type, sb.Type)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	c := s.ctxs.Get().(*Ctx)
	c.reset(s.ctx, fabric.Meta{UserID: em.UserID}, wire.Protobuf{}, s)
	c.event = h
	var span oteltrace.Span
	if s.tr != nil {
		span = s.traceEvent(c, sb, h)
	}
	err = sb.serve(c, data)
	if span != nil {
		endCall(span, err)
	}
	c.ctx, c.srv, c.event = nil, nil, nil
	s.ctxs.Put(c)
	return err
}

// drain stops taking events and waits until the handlers of those already
// received have run, or ctx ends.
func (es *eventSubs) drain(ctx context.Context) error {
	var durable []<-chan struct{}
	for _, cons := range es.cons {
		cons.Drain()
		durable = append(durable, cons.Closed())
	}
	// A subscription's status channel is closed once the subscription is:
	// after a drain, when its last handler has returned.
	var core []<-chan nats.SubStatus
	for _, sub := range es.subs {
		core = append(core, sub.StatusChanged(nats.SubscriptionClosed))
		if err := sub.Drain(); err != nil {
			_ = sub.Unsubscribe()
		}
	}
	for _, ch := range durable {
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("logic: drain events: %w", ctx.Err())
		}
	}
	for _, ch := range core {
		for open := true; open; {
			select {
			case _, open = <-ch:
			case <-ctx.Done():
				return fmt.Errorf("logic: drain events: %w", ctx.Err())
			}
		}
	}
	return nil
}

// unsubscribe stops every event subscription at once, without waiting.
func (es *eventSubs) unsubscribe() {
	for _, cons := range es.cons {
		cons.Stop()
	}
	for _, sub := range es.subs {
		_ = sub.Unsubscribe()
	}
	es.cons, es.subs = nil, nil
}
