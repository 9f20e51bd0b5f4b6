package eventbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/internal/ctxsleep"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/nats-io/nats.go"
	"github.com/segmentio/kafka-go"
)

// Defaults of KafkaConfig.
const (
	DefaultTopicPrefix       = "iogo.event."
	DefaultPartitions        = 8
	DefaultBatchTimeout      = 2 * time.Millisecond
	DefaultHeartbeatInterval = time.Second
	DefaultDialTimeout       = 10 * time.Second
	DefaultMaxWait           = time.Second
	DefaultCommitInterval    = 500 * time.Millisecond
	DefaultCommitBatch       = 256
)

// ErrClosed is returned by a Kafka bus that was closed.
var ErrClosed = errors.New("eventbus: closed")

// KafkaConfig configures NewKafka. The zero value of every optional field
// is a sensible default.
type KafkaConfig struct {
	// Brokers are the bootstrap brokers, "host:port"; required.
	Brokers []string
	// TopicPrefix is put before an iogo topic to name its Kafka topic;
	// default DefaultTopicPrefix. The result must be a valid Kafka topic
	// name: iogo topics are, and their length (at most
	// fabric.MaxTopicLen) leaves room for a prefix of 49 bytes.
	TopicPrefix string
	// Partitions is the partition count of the topics the bus creates;
	// default DefaultPartitions. It bounds how many instances of a
	// service share a topic's events. Existing topics are left as they
	// are.
	Partitions int
	// ReplicationFactor of the topics the bus creates; default (0) the
	// broker's default.
	ReplicationFactor int
	// Retention is how long a topic the bus creates keeps an event;
	// default logic.DefaultEventRetention.
	Retention time.Duration
	// BatchTimeout is how long a publication waits for others to share
	// its request to the broker; default DefaultBatchTimeout.
	BatchTimeout time.Duration
	// HeartbeatInterval is how often a consumer tells the group it is
	// alive, and so how soon it joins a rebalance; default
	// DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
	// SessionTimeout is how long the group waits for the heartbeat of a
	// consumer that vanished before giving its partitions to others;
	// default kafka-go's (30s).
	SessionTimeout time.Duration
	// MaxWait is how long a consumer's fetch waits at the broker for
	// new events; a consumer that stops waits for its fetches to end, so
	// this bounds how long a drain takes, and an idle consumer sends a
	// fetch per partition this often. Default DefaultMaxWait.
	MaxWait time.Duration
	// RetryDelay returns the wait before retrying an event whose handler
	// failed on its attempt-th try; default logic.RedeliveryDelay.
	RetryDelay func(attempt int) time.Duration
	// CommitInterval is how long handled events of a partition may wait
	// before their offset is committed; a commit also goes out every
	// CommitBatch events and when the consumer drains. Events handled but
	// not yet committed when a consumer dies are delivered again (at least
	// once). Default DefaultCommitInterval; negative commits every event.
	CommitInterval time.Duration
	// CommitBatch is how many handled events of a partition trigger a
	// commit before CommitInterval; default DefaultCommitBatch.
	CommitBatch int
	// Dialer dials the brokers (TLS, SASL); default a plain TCP dialer
	// with DefaultDialTimeout.
	Dialer *kafka.Dialer
	// Logger receives the bus's logs; nil discards them.
	Logger *slog.Logger
}

// Validate fills in defaults and reports a missing or invalid field.
func (c *KafkaConfig) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("eventbus: KafkaConfig.Brokers is required")
	}
	for _, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return fmt.Errorf("eventbus: broker %q: %w", b, err)
		}
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = DefaultTopicPrefix
	}
	if err := validKafkaTopic(c.TopicPrefix + "x"); err != nil {
		return fmt.Errorf("eventbus: topic prefix: %w", err)
	}
	if c.Partitions <= 0 {
		c.Partitions = DefaultPartitions
	}
	if c.ReplicationFactor <= 0 {
		c.ReplicationFactor = -1
	}
	if c.Retention <= 0 {
		c.Retention = logic.DefaultEventRetention
	}
	if c.BatchTimeout <= 0 {
		c.BatchTimeout = DefaultBatchTimeout
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.MaxWait <= 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.CommitInterval == 0 {
		c.CommitInterval = DefaultCommitInterval
	}
	if c.CommitBatch <= 0 {
		c.CommitBatch = DefaultCommitBatch
	}
	if c.RetryDelay == nil {
		c.RetryDelay = logic.RedeliveryDelay
	}
	if c.Dialer == nil {
		c.Dialer = &kafka.Dialer{Timeout: DefaultDialTimeout, DualStack: true}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// ParseBrokers splits the value of a -kafka flag, "host:port,host:port",
// into broker addresses; an empty value gives none.
func ParseBrokers(s string) []string {
	var out []string
	for b := range strings.SplitSeq(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// validKafkaTopic reports whether name is a legal Kafka topic name.
func validKafkaTopic(name string) error {
	if len(name) > 249 {
		return fmt.Errorf("kafka topic %q longer than 249 bytes", name)
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return fmt.Errorf("kafka topic %q: character %q not allowed", name, c)
		}
	}
	return nil
}

// Kafka is a logic.DurableBus on Kafka. See the package documentation for
// how topics, groups and failures map.
type Kafka struct {
	cfg       KafkaConfig
	log       *slog.Logger
	transport *kafka.Transport
	client    *kafka.Client
	writer    *kafka.Writer

	mu     sync.Mutex
	topics map[string]bool        // Kafka topics known to exist
	cons   map[*consumer]struct{} // running consumers
	closed bool
}

var _ logic.DurableBus = (*Kafka)(nil)

// NewKafka returns a Kafka bus; it does no I/O (brokers are dialled on
// first use).
func NewKafka(cfg KafkaConfig) (*Kafka, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tr := &kafka.Transport{
		Dial:     cfg.Dialer.DialFunc,
		TLS:      cfg.Dialer.TLS,
		SASL:     cfg.Dialer.SASLMechanism,
		ClientID: "iogo",
	}
	addr := kafka.TCP(cfg.Brokers...)
	log := cfg.Logger.With(slog.String("bus", "kafka"))
	return &Kafka{
		cfg:       cfg,
		log:       log,
		transport: tr,
		client:    &kafka.Client{Addr: addr, Transport: tr},
		writer: &kafka.Writer{
			Addr:         addr,
			Balancer:     &kafka.Hash{},
			RequiredAcks: kafka.RequireAll,
			BatchTimeout: cfg.BatchTimeout,
			Transport:    tr,
			ErrorLogger:  errorLogger(log),
		},
		topics: make(map[string]bool),
		cons:   make(map[*consumer]struct{}),
	}, nil
}

// Topic returns the Kafka topic of an iogo topic.
func (k *Kafka) Topic(topic string) string { return k.cfg.TopicPrefix + topic }

// Publish writes ev to its Kafka topic, creating the topic if needed, and
// returns once every in-sync replica has it.
func (k *Kafka) Publish(ctx context.Context, ev *logic.DurableEvent) error {
	if err := fabric.ValidTopic(ev.Topic); err != nil {
		return err
	}
	name := k.Topic(ev.Topic)
	if err := k.ensureTopic(ctx, name); err != nil {
		return err
	}
	m := kafka.Message{Topic: name, Value: ev.Data, Headers: toKafka(ev.Header)}
	if u := ev.Header.Get(fabric.HeaderUser); u != "" {
		m.Key = []byte(u)
	}
	if err := k.writer.WriteMessages(ctx, m); err != nil {
		return fmt.Errorf("eventbus: write to %s: %w", name, err)
	}
	return nil
}

// ensureTopic creates the Kafka topic name unless the bus knows it exists.
func (k *Kafka) ensureTopic(ctx context.Context, name string) error {
	k.mu.Lock()
	known, closed := k.topics[name], k.closed
	k.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if known {
		return nil
	}
	res, err := k.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic:             name,
		NumPartitions:     k.cfg.Partitions,
		ReplicationFactor: k.cfg.ReplicationFactor,
		ConfigEntries: []kafka.ConfigEntry{{
			ConfigName:  "retention.ms",
			ConfigValue: strconv.FormatInt(k.cfg.Retention.Milliseconds(), 10),
		}},
	}}})
	if err == nil {
		err = res.Errors[name]
	}
	if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("eventbus: create topic %s: %w", name, err)
	}
	k.mu.Lock()
	k.topics[name] = true
	k.mu.Unlock()
	return nil
}

// Consume joins the consumer group named group on topic's Kafka topic,
// creating the topic if needed, and hands its events to handle in a
// goroutine of its own. A group that has committed nothing yet starts at
// the oldest event kept.
func (k *Kafka) Consume(ctx context.Context, topic, group string, handle logic.DurableHandler) (logic.DurableConsumer, error) {
	if err := fabric.ValidTopic(topic); err != nil {
		return nil, err
	}
	if group == "" {
		return nil, errors.New("eventbus: consumer group required")
	}
	name := k.Topic(topic)
	if err := k.ensureTopic(ctx, name); err != nil {
		return nil, err
	}
	log := k.log.With(slog.String("topic", name), slog.String("group", group))
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                group,
		Brokers:           k.cfg.Brokers,
		Dialer:            k.cfg.Dialer,
		Topics:            []string{name},
		HeartbeatInterval: k.cfg.HeartbeatInterval,
		SessionTimeout:    k.cfg.SessionTimeout,
		StartOffset:       kafka.FirstOffset,
		Logger:            kafka.LoggerFunc(func(msg string, args ...any) { log.Debug(fmt.Sprintf(msg, args...)) }),
		ErrorLogger:       errorLogger(log),
	})
	if err != nil {
		return nil, fmt.Errorf("eventbus: consumer group %s: %w", group, err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c := &consumer{
		bus:    k,
		topic:  topic,
		name:   name,
		log:    log,
		cg:     cg,
		handle: handle,
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan struct{}),
	}
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		cancel()
		_ = cg.Close()
		return nil, ErrClosed
	}
	k.cons[c] = struct{}{}
	k.mu.Unlock()
	go c.run()
	return c, nil
}

// Close stops the consumers still running (as Stop does), waits until they
// are gone, then closes the writer and the connections. Publish and
// Consume fail afterwards. Close is idempotent.
func (k *Kafka) Close() error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return nil
	}
	k.closed = true
	cons := make([]*consumer, 0, len(k.cons))
	for c := range k.cons {
		cons = append(cons, c)
	}
	k.mu.Unlock()
	for _, c := range cons {
		c.Stop()
		<-c.Closed()
	}
	err := k.writer.Close()
	k.transport.CloseIdleConnections()
	return err
}

// consumer is one group member. Its goroutine (run) takes the group's
// generations one after the other; in each, one goroutine per assigned
// partition (partition) reads it with a Reader of its own and hands its
// events to the handler. serving makes the handlers of all partitions run
// one at a time; a partition waiting to retry does not hold it.
type consumer struct {
	bus    *Kafka
	topic  string // iogo topic
	name   string // Kafka topic
	log    *slog.Logger
	cg     *kafka.ConsumerGroup
	handle logic.DurableHandler

	ctx     context.Context // cancelled by Drain and Stop
	cancel  context.CancelFunc
	stopped atomic.Bool // Stop was called: commit nothing more
	serving sync.Mutex  // held while the handler runs
	done    chan struct{}
}

// Drain stops taking events; the events in flight are handled and
// committed.
func (c *consumer) Drain() { c.cancel() }

// Stop stops taking events; those in flight are not committed.
func (c *consumer) Stop() {
	c.stopped.Store(true)
	c.cancel()
}

// Closed is closed once the consumer has left the group.
func (c *consumer) Closed() <-chan struct{} { return c.done }

func (c *consumer) run() {
	defer func() {
		// Ends the generation: the partition goroutines finish the event
		// in flight and commit it, then the member leaves the group.
		_ = c.cg.Close()
		c.bus.mu.Lock()
		delete(c.bus.cons, c)
		c.bus.mu.Unlock()
		close(c.done)
	}()
	for {
		gen, err := c.cg.Next(c.ctx)
		if err != nil {
			if c.ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				return
			}
			// The group retries by itself (with a backoff where needed).
			c.log.Debug("join group", slog.Any("error", err))
			continue
		}
		for _, a := range gen.Assignments[c.name] {
			gen.Start(func(ctx context.Context) { c.partition(ctx, gen, a) })
		}
	}
}

// partition reads one assigned partition until the generation ends.
func (c *consumer) partition(ctx context.Context, gen *kafka.Generation, a kafka.PartitionAssignment) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     c.bus.cfg.Brokers,
		Topic:       c.name,
		Partition:   a.ID,
		Dialer:      c.bus.cfg.Dialer,
		MaxWait:     c.bus.cfg.MaxWait,
		ErrorLogger: errorLogger(c.log),
	})
	defer func() {
		if err := r.Close(); err != nil {
			c.log.Debug("close reader", slog.Int("partition", a.ID), slog.Any("error", err))
		}
	}()
	if err := r.SetOffset(a.Offset); err != nil {
		c.log.Warn("seek", slog.Int("partition", a.ID), slog.Int64("offset", a.Offset), slog.Any("error", err))
		<-ctx.Done()
		return
	}
	// Handled events are committed in batches: every CommitBatch events,
	// after CommitInterval, and when the generation ends. The generation
	// still holds while its goroutines run, also when a Drain ends it, so
	// what was handled is committed then.
	cm := committer{c: c, gen: gen, partition: a.ID, next: -1}
	defer func() {
		if !c.stopped.Load() {
			cm.commit()
		}
	}()
	for fails := 0; ; {
		m, err := cm.fetch(ctx, r)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			fails++
			c.log.Warn("fetch events", slog.Int("partition", a.ID), slog.Any("error", err))
			if !ctxsleep.Sleep(ctx, c.bus.cfg.RetryDelay(fails)) {
				return
			}
			continue
		}
		fails = 0
		if !c.serve(ctx, &m) {
			return
		}
		if c.stopped.Load() {
			return
		}
		cm.handled(m.Offset)
	}
}

// committer batches the offset commits of one partition.
type committer struct {
	c         *consumer
	gen       *kafka.Generation
	partition int
	next      int64 // offset to commit (one past the last handled); -1: nothing pending
	count     int   // events handled since the last commit
	since     time.Time
}

// handled records that the event at offset was handled, committing when
// the batch is full or old enough.
func (cm *committer) handled(offset int64) {
	if cm.next < 0 {
		cm.since = time.Now()
	}
	cm.next, cm.count = offset+1, cm.count+1
	cfg := &cm.c.bus.cfg
	if cfg.CommitInterval < 0 || cm.count >= cfg.CommitBatch || time.Since(cm.since) >= cfg.CommitInterval {
		cm.commit()
	}
}

// fetch reads the next event; while commits are pending, it waits at most
// until they are due and commits them first.
func (cm *committer) fetch(ctx context.Context, r *kafka.Reader) (kafka.Message, error) {
	for cm.next >= 0 {
		fctx, cancel := context.WithDeadline(ctx, cm.since.Add(cm.c.bus.cfg.CommitInterval))
		m, err := r.FetchMessage(fctx)
		cancel()
		if err == nil || ctx.Err() != nil || fctx.Err() == nil {
			return m, err
		}
		cm.commit() // nothing new before the pending commit fell due
	}
	return r.FetchMessage(ctx)
}

// commit commits the pending offset, if any.
func (cm *committer) commit() {
	if cm.next < 0 {
		return
	}
	if err := cm.gen.CommitOffsets(map[string]map[int]int64{cm.c.name: {cm.partition: cm.next}}); err != nil {
		cm.c.log.Warn("commit events", slog.Int("partition", cm.partition), slog.Int64("offset", cm.next),
			slog.Any("error", err))
	}
	cm.next, cm.count = -1, 0
}

// serve handles m until its handler succeeds (or rejects it as
// malformed). It returns false when the generation ended while m was
// waiting for a retry.
func (c *consumer) serve(ctx context.Context, m *kafka.Message) bool {
	ev := &logic.DurableEvent{Topic: c.topic, Header: fromKafka(m.Headers), Data: m.Value}
	for ev.Attempt = 1; ; ev.Attempt++ {
		c.serving.Lock()
		err := c.handle(ev)
		c.serving.Unlock()
		if err == nil || errors.Is(err, logic.ErrBadEvent) {
			return true
		}
		c.log.Debug("event handler failed; retrying", slog.Int("partition", m.Partition),
			slog.Int64("offset", m.Offset), slog.Int("attempt", ev.Attempt), slog.Any("error", err))
		if !ctxsleep.Sleep(ctx, c.bus.cfg.RetryDelay(ev.Attempt)) {
			return false
		}
	}
}

// toKafka turns NATS headers into Kafka record headers, one per value.
func toKafka(h nats.Header) []kafka.Header {
	if len(h) == 0 {
		return nil
	}
	out := make([]kafka.Header, 0, len(h))
	for k, vs := range h {
		for _, v := range vs {
			out = append(out, kafka.Header{Key: k, Value: []byte(v)})
		}
	}
	return out
}

// fromKafka turns Kafka record headers back into NATS headers.
func fromKafka(hs []kafka.Header) nats.Header {
	h := make(nats.Header, len(hs))
	for _, kh := range hs {
		h[kh.Key] = append(h[kh.Key], string(kh.Value))
	}
	return h
}

// errorLogger sends kafka-go's error logs to log at level Warn.
func errorLogger(log *slog.Logger) kafka.Logger {
	return kafka.LoggerFunc(func(msg string, args ...any) { log.Warn(fmt.Sprintf(msg, args...)) })
}
