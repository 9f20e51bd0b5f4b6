package logic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/iogo-dev/iogo/pkg/registry"
	"github.com/iogo-dev/iogo/pkg/trace"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// DefaultCallTimeout bounds a Client request that has no context deadline.
const DefaultCallTimeout = 5 * time.Second

// Client reaches the rest of the cluster from logic code: pushes to players,
// server-to-server calls, the event bus, the external servers (the external
// region) and player-to-logic-server bindings. Every Server has one
// (Server.Client); code outside handlers — timers, background jobs, tools —
// uses that one or builds its own with NewClient. A Ctx offers the same
// actions on behalf of its request.
//
// A Client is safe for concurrent use.
type Client struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	reg     *registry.Registry
	log     *slog.Logger
	timeout time.Duration
	tr      *trace.Tracer // nil: tracing off
	durable DurableBus    // event_durable.go
}

// ClientConfig configures NewClient.
type ClientConfig struct {
	// Conn is the broker connection; required. The Client does not close it.
	Conn *nats.Conn
	// CallTimeout bounds requests whose context has no deadline; default
	// DefaultCallTimeout.
	CallTimeout time.Duration
	// Logger receives the client's logs; nil discards them.
	Logger *slog.Logger
	// TracerProvider traces the client's calls, events and pushes; nil
	// turns tracing off.
	TracerProvider oteltrace.TracerProvider
	// DurableBus stores durable events (PublishDurable); nil: JetStream on
	// Conn. The Client does not close it.
	DurableBus DurableBus
}

// NewClient returns a Client on an established broker connection; it binds
// to the framework's KV buckets, which the broker creates at start.
func NewClient(ctx context.Context, cfg ClientConfig) (*Client, error) {
	if cfg.Conn == nil {
		return nil, errors.New("logic: ClientConfig.Conn is required")
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	js, err := jetstream.New(cfg.Conn)
	if err != nil {
		return nil, fmt.Errorf("logic: jetstream: %w", err)
	}
	reg, err := registry.Open(ctx, js)
	if err != nil {
		return nil, err
	}
	cl := &Client{nc: cfg.Conn, js: js, reg: reg, log: cfg.Logger, timeout: cfg.CallTimeout,
		tr: trace.New(cfg.TracerProvider), durable: cfg.DurableBus}
	if cl.durable == nil {
		cl.durable = &jetStreamBus{cl: cl}
	}
	return cl, nil
}

// Registry returns the cluster registry the client uses.
func (cl *Client) Registry() *registry.Registry { return cl.reg }

// withTimeout gives ctx the client's call timeout when it has no deadline.
func (cl *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, cl.timeout)
}
