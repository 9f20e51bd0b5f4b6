package fabric

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
)

// MaxTopicLen bounds the length of an event-bus topic, so that the names
// derived from it (subject, stream) stay within NATS limits.
const MaxTopicLen = 200

// ValidTopic reports whether topic can name an event-bus topic: one or more
// non-empty tokens separated by '.', each made of ASCII letters, digits,
// '-' and '_' ("guild.created", "player-login").
func ValidTopic(topic string) error {
	if topic == "" || len(topic) > MaxTopicLen {
		return fmt.Errorf("fabric: topic %q: length must be 1..%d", topic, MaxTopicLen)
	}
	prev := byte('.')
	for i := 0; i < len(topic); i++ {
		c := topic[i]
		switch {
		case c == '.':
			if prev == '.' {
				return fmt.Errorf("fabric: topic %q has an empty token", topic)
			}
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return fmt.Errorf("fabric: topic %q: character %q not allowed (letters, digits, '-', '_', '.')", topic, c)
		}
		prev = c
	}
	if prev == '.' {
		return fmt.Errorf("fabric: topic %q has an empty token", topic)
	}
	return nil
}

// EventStream is the name of the JetStream stream that keeps the events of
// a durable topic: "IOGO_EVENT_" and the topic with '.' as '_'. Two topics
// that differ only there ("a.b", "a_b") map to the same name; whoever
// creates the stream checks that it captures its own topic.
func EventStream(topic string) string {
	return "IOGO_EVENT_" + strings.ReplaceAll(topic, ".", "_")
}

// DeadLetterTopic is the topic where service's durable subscription to
// topic parks the events it gave up on (logic.Subscription.MaxAttempts):
// "dead." + service + "." + topic ("dead.orders.order.paid"). The event
// keeps its payload and headers, plus the HeaderDead* ones.
func DeadLetterTopic(service, topic string) string { return "dead." + service + "." + topic }

// Headers that a dead-lettered event carries beside its own.
const (
	// HeaderDeadTopic is the topic the event was published on.
	HeaderDeadTopic = "Iogo-Dead-Topic"
	// HeaderDeadService is the service whose handler gave up on it.
	HeaderDeadService = "Iogo-Dead-Service"
	// HeaderDeadAttempts is the number of deliveries it had there.
	HeaderDeadAttempts = "Iogo-Dead-Attempts"
	// HeaderDeadError is the last error of the handler (one line, at most
	// MaxDeadError bytes).
	HeaderDeadError = "Iogo-Dead-Error"
	// HeaderDeadAt is when it was given up, in Unix milliseconds.
	HeaderDeadAt = "Iogo-Dead-At"
)

// MaxDeadError bounds the length of HeaderDeadError.
const MaxDeadError = 1024

// EventConsumer is the name of the durable consumer through which the
// instances of service share the events of a durable topic.
func EventConsumer(service string) string { return service }

// EventMeta is the metadata of an event, carried in headers beside the
// payload.
type EventMeta struct {
	// Type is the protobuf full name of the payload (HeaderType).
	Type string
	// UserID is the user on whose behalf the event was published
	// (HeaderUser); 0 for none.
	UserID int64
}

// Header encodes m as NATS headers.
func (m *EventMeta) Header() nats.Header {
	h := make(nats.Header, 2)
	if m.Type != "" {
		h[HeaderType] = []string{m.Type}
	}
	if m.UserID != 0 {
		h[HeaderUser] = []string{strconv.FormatInt(m.UserID, 10)}
	}
	return h
}

// ParseEventMeta decodes event metadata from NATS headers.
func ParseEventMeta(h nats.Header) (EventMeta, error) {
	var m EventMeta
	var err error
	m.Type = h.Get(HeaderType)
	m.UserID, err = intHeader(h, HeaderUser, 64, false)
	return m, err
}
