package logic

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DurableBus is the transport of durable events (Delivery Durable,
// PublishDurable): it stores the events of each topic and hands each one to
// one consumer of every group (service) at least once. The default is
// JetStream on the server's broker connection; package eventbus has one on
// Kafka; package eventbus/bustest is the conformance suite every
// implementation passes.
//
// An implementation is safe for concurrent use. It need not be told a
// topic in advance: Publish and Consume create what a topic needs.
type DurableBus interface {
	// Publish stores ev (Topic, Header, Data; Attempt is ignored) and
	// returns once it is stored: a consumer that starts later receives
	// it.
	Publish(ctx context.Context, ev *DurableEvent) error
	// Consume starts handing the events of topic to handle, one at a time,
	// shared with the other consumers of group: each event reaches one of
	// them. An event is acknowledged (never delivered to the group again)
	// once handle returns nil or an error wrapping ErrBadEvent; after any
	// other error it is delivered again later, with a growing delay.
	// Events that no consumer of group acknowledged, including those
	// published before the group's first consumer started, are delivered.
	// ctx bounds the setup only: the consumer runs until Drain or Stop.
	Consume(ctx context.Context, topic, group string, handle DurableHandler) (DurableConsumer, error)
}

// DurableEvent is one event on a DurableBus.
type DurableEvent struct {
	// Topic is the event-bus topic (fabric.ValidTopic).
	Topic string
	// Header is the event's metadata (fabric.EventMeta, trace context).
	Header nats.Header
	// Data is the payload.
	Data []byte
	// Attempt counts the deliveries of the event to its group, 1 on the
	// first, as far as the bus knows (a bus may start again from 1 after a
	// consumer restarts).
	Attempt int
}

// DurableHandler handles one durable event; see DurableBus.Consume for
// what its result means.
type DurableHandler func(ev *DurableEvent) error

// DurableConsumer is a running DurableBus.Consume.
type DurableConsumer interface {
	// Drain stops taking events and returns at once; the handler in
	// flight finishes and its event is acknowledged, then Closed is
	// closed. An event whose handler failed is left to be delivered again
	// (to another consumer of the group).
	Drain()
	// Stop stops taking events at once, without acknowledging the one in
	// flight; Closed is closed once the consumer is gone.
	Stop()
	// Closed is closed once the consumer has stopped.
	Closed() <-chan struct{}
}

// Redelivery delays of a failed durable event: the first retry after
// minRedelivery, doubling up to maxRedelivery.
const (
	minRedelivery = 100 * time.Millisecond
	maxRedelivery = 30 * time.Second
)

// RedeliveryDelay is the default wait before the next delivery of a
// durable event whose handler failed on its attempt-th delivery: 100ms,
// doubling up to 30s.
func RedeliveryDelay(attempt int) time.Duration {
	d := minRedelivery
	for ; attempt > 1 && d < maxRedelivery; attempt-- {
		d *= 2
	}
	return min(d, maxRedelivery)
}

// eventPullBatch bounds the durable events an instance holds before
// handling them; it is kept small because the ack wait of each runs from
// its delivery, and they are handled one at a time.
const eventPullBatch = 32

// DurableBus returns the bus through which the client publishes durable
// events: ClientConfig.DurableBus, or JetStream.
func (cl *Client) DurableBus() DurableBus { return cl.durable }

// jetStreamBus is the default DurableBus: a stream per topic
// (fabric.EventStream) capturing the topic's subject, and a durable pull
// consumer per group (fabric.EventConsumer).
type jetStreamBus struct {
	cl *Client
	// ackWait is the consumers' AckWait: how long an event may stay
	// unacknowledged before it is delivered again; DefaultEventAckWait
	// unless a test shortens it.
	ackWait time.Duration
}

// wait returns the consumers' AckWait.
func (b *jetStreamBus) wait() time.Duration {
	if b.ackWait > 0 {
		return b.ackWait
	}
	return DefaultEventAckWait
}

// Publish stores ev in its topic's stream, which it creates if needed.
// The event is published on the topic's subject, so core subscribers get
// it too.
func (b *jetStreamBus) Publish(ctx context.Context, ev *DurableEvent) error {
	m := &nats.Msg{Subject: fabric.Event(ev.Topic), Header: ev.Header, Data: ev.Data}
	// Try first without JetStream's retries: no stream yet is the common
	// reason for no answer, and creating it is quicker than waiting.
	_, err := b.cl.js.PublishMsg(ctx, m, jetstream.WithRetryAttempts(0))
	if errors.Is(err, jetstream.ErrNoStreamResponse) {
		if _, err = b.eventStream(ctx, ev.Topic); err == nil {
			_, err = b.cl.js.PublishMsg(ctx, m)
		}
	}
	return err
}

// Consume creates (or updates) the group's durable consumer on the topic's
// stream and consumes it.
func (b *jetStreamBus) Consume(ctx context.Context, topic, group string, handle DurableHandler) (DurableConsumer, error) {
	stream, err := b.eventStream(ctx, topic)
	if err != nil {
		return nil, err
	}
	cons, err := b.cl.js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable:       fabric.EventConsumer(group),
		Description:   "iogo: events of topic " + topic + " for service " + group,
		FilterSubject: fabric.Event(topic),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       b.wait(),
		MaxDeliver:    -1,
	})
	if err != nil {
		return nil, err
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { b.serve(topic, m, handle) },
		jetstream.PullMaxMessages(eventPullBatch),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			b.cl.log.Warn("durable events", "topic", topic, "error", err)
		}))
	if err != nil {
		return nil, err
	}
	return cc, nil // a jetstream.ConsumeContext has Drain, Stop and Closed
}

// serve handles one message and acknowledges it: done on success,
// redelivery later on failure, never again if it is malformed.
func (b *jetStreamBus) serve(topic string, m jetstream.Msg, handle DurableHandler) {
	ev := &DurableEvent{Topic: topic, Header: m.Headers(), Data: m.Data(), Attempt: 1}
	if md, err := m.Metadata(); err == nil {
		ev.Attempt = int(md.NumDelivered)
	}
	// A handler may take longer than AckWait (a slow store, a long job):
	// tell the server it is in progress, so that the event is not given
	// to another instance meanwhile.
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(b.wait() / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = m.InProgress()
			}
		}
	}()
	err := handle(ev)
	close(done)
	switch {
	case err == nil:
		err = m.Ack()
	case errors.Is(err, ErrBadEvent):
		err = m.Term()
	default:
		err = m.NakWithDelay(RedeliveryDelay(ev.Attempt))
	}
	if err != nil {
		b.cl.log.Warn("event not acknowledged", "topic", topic, "error", err)
	}
}

// eventStream creates the stream of a durable topic unless it exists, and
// returns its name. An existing stream is kept as it is (an operator may
// have tuned its limits), provided it captures the topic.
func (b *jetStreamBus) eventStream(ctx context.Context, topic string) (string, error) {
	name, subject := fabric.EventStream(topic), fabric.Event(topic)
	replicas, err := b.replicas(ctx)
	if err != nil {
		return "", fmt.Errorf("logic: event stream of %s: %w", topic, err)
	}
	_, err = b.cl.js.CreateStream(ctx, jetstream.StreamConfig{
		Name:        name,
		Description: "iogo: durable events of topic " + topic,
		Subjects:    []string{subject},
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      DefaultEventRetention,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		var st jetstream.Stream
		if st, err = b.cl.js.Stream(ctx, name); err == nil && !slices.Contains(st.CachedInfo().Config.Subjects, subject) {
			err = fmt.Errorf("stream %s exists for subjects %v (another topic with the same stream name)",
				name, st.CachedInfo().Config.Subjects)
		}
	}
	if err != nil {
		return "", fmt.Errorf("logic: event stream of %s: %w", topic, err)
	}
	return name, nil
}

// replicas returns the replica count of event streams: that of the
// framework's KV buckets, which the broker sizes to its cluster (1 when
// there are none: a bare NATS server). Any other error is returned rather
// than taken for 1, which would place a single-replica stream on a
// cluster that is still electing.
func (b *jetStreamBus) replicas(ctx context.Context) (int, error) {
	st, err := b.cl.js.Stream(ctx, "KV_"+fabric.BucketServices)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 1, nil
	}
	if err != nil {
		return 0, err
	}
	return max(1, st.CachedInfo().Config.Replicas), nil
}
