package route

import (
	"fmt"

	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/wire"
)

// An EventOption adjusts one event subscription at registration.
type EventOption func(*logic.Subscription)

// OnePerService delivers each event of the topic to one instance of the
// service instead of every instance (logic.OnePerService).
func OnePerService() EventOption {
	return func(sb *logic.Subscription) { sb.Delivery = logic.OnePerService }
}

// Durable delivers each event of the topic to one instance of the service,
// at least once, also when it was published while no instance ran
// (logic.Durable). It implies OnePerService.
func Durable() EventOption {
	return func(sb *logic.Subscription) { sb.Delivery = logic.Durable }
}

// DeadLetter gives up on an event of a Durable subscription after
// maxAttempts failed deliveries (at once if it cannot be decoded): the
// event goes to the dead-letter topic fabric.DeadLetterTopic(service,
// topic) and the events behind it go on (logic.Subscription.MaxAttempts).
// Subscribe to that topic to inspect, alert on or replay them;
// logic.Ctx.DeadLetter tells why each was given up. maxAttempts must be at
// least 1, and the subscription Durable.
//
//	route.Subscribe(r, "order.paid", onPaid, route.Durable(), route.DeadLetter(5))
//	route.Subscribe(r, fabric.DeadLetterTopic("orders", "order.paid"), onDeadPaid, route.Durable())
func DeadLetter(maxAttempts int) EventOption {
	if maxAttempts < 1 {
		maxAttempts = -1 // reported by Subscribe: 0 would mean no dead letters
	}
	return func(sb *logic.Subscription) { sb.MaxAttempts = maxAttempts }
}

// EventDoc documents an event subscription.
func EventDoc(text string) EventOption {
	return func(sb *logic.Subscription) { sb.Doc = text }
}

// Subscribe registers fn as the service's handler of the events published
// on topic (logic.Client.Publish). T is the event's payload type, as for
// Handle: a protobuf message or a bare value (published in its ioGame
// wrapper). By default every instance of the service gets every event (see
// logic.Delivery for the others and logic's package documentation for the
// ordering guarantees). An error returned by fn is logged; for a Durable
// subscription, the event is delivered again later.
//
// The router's middleware does not wrap event handlers. A topic may be
// subscribed once per router; a duplicate or an invalid topic is reported
// by Routes, so the server refuses to start.
func Subscribe[T any](r *Router, topic string, fn func(*logic.Ctx, T) error, opts ...EventOption) {
	in, err := wire.ValueOf[T]()
	if err == nil {
		err = fabric.ValidTopic(topic)
	}
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("route: subscribe %q: %w", topic, err))
		return
	}
	sb := logic.Subscription{
		Topic: topic,
		Type:  in.TypeName(),
		Handler: func(c *logic.Ctx, data []byte) error {
			v, err := in.Unmarshal(data, c.Codec())
			if err != nil {
				return fmt.Errorf("%w: %v", logic.ErrBadEvent, err)
			}
			return fn(c, v)
		},
	}
	// Reflection at registration only, as in Handle.
	sb.Func, sb.File, sb.Line = funcSource(fn)
	for _, o := range opts {
		o(&sb)
	}
	if sb.MaxAttempts != 0 && (sb.MaxAttempts < 1 || sb.Delivery != logic.Durable) {
		r.errs = append(r.errs, fmt.Errorf("route: subscribe %q: DeadLetter needs maxAttempts >= 1 and a Durable subscription", topic))
		return
	}
	for _, prev := range r.events {
		if prev.Topic == topic {
			r.errs = append(r.errs, fmt.Errorf("route: topic %q subscribed twice: %s (%s) and %s (%s)",
				topic, prev.Func, prev.Source(), sb.Func, sb.Source()))
			return
		}
	}
	r.events = append(r.events, sb)
}

// Events returns the event subscriptions in registration order. It
// implements logic.EventSource.
func (r *Router) Events() []logic.Subscription { return append([]logic.Subscription(nil), r.events...) }
