// Package eventbus holds the durable event buses other than the default
// (JetStream, built into package logic): Kafka, through
// github.com/segmentio/kafka-go.
//
// A bus is a logic.DurableBus: pass it as logic.Config.DurableBus (and
// logic.ClientConfig.DurableBus for a Client of its own) and every
// route.Durable() subscription and every PublishDurable of that server goes
// through it. Subscriptions that are not durable stay on NATS.
//
// # Kafka
//
// NewKafka(KafkaConfig{Brokers: ...}) maps:
//   - an iogo topic to the Kafka topic KafkaConfig.TopicPrefix + topic
//     ("iogo.event." + "order.paid" = "iogo.event.order.paid"), created on
//     first use with KafkaConfig.Partitions partitions and a retention of
//     KafkaConfig.Retention;
//   - a service (the group of logic.DurableBus.Consume) to the consumer group
//     of that name; each durable subscription of an instance is one group
//     member on one topic, reading each partition assigned to it with a
//     kafka-go Reader of its own;
//   - the event's metadata (fabric.EventMeta, the W3C traceparent) to Kafka
//     record headers of the same names, the payload to the record value,
//     and the publishing user's ID (if any) to the record key, so that the
//     events of one user stay in one partition, in order.
//
// Delivery: a member handles its events one at a time and commits an
// event's offset once its handler returned nil (or logic.ErrBadEvent: a
// malformed event is skipped). Kafka has no per-message negative
// acknowledgement, so an event whose handler fails is retried in process,
// after KafkaConfig.RetryDelay (by default logic.RedeliveryDelay: 100ms
// doubling to 30s), forever: the member's partitions of that topic wait
// behind it, which keeps the order of events, and the other members go on
// with theirs. A handler that can never succeed must return an error
// wrapping logic.ErrBadEvent, or its subscription gives up after some
// attempts with route.DeadLetter (the attempt count starts again from 1
// when another member takes the partition over). When an instance stops (Drain), the handler in
// flight finishes and its offset is committed; an event still failing is
// left uncommitted and goes to the member that takes the partition over.
//
// Concurrency: a Kafka bus is safe for concurrent use. It owns one Writer
// and a Transport for publications and topic creation; each consumer owns a
// goroutine that follows the group's generations and, per assigned
// partition, a goroutine and a Reader (the handler still runs one event at a
// time per consumer). Close stops the consumers, then closes the writer and
// the transport's connections.
package eventbus
