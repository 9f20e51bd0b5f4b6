package external

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Reconnect backoff: the first retry after reconnectMin, doubling per
// round over the URL list up to reconnectMax, plus up to 25% jitter.
const (
	reconnectMin = 100 * time.Millisecond
	reconnectMax = 2 * time.Second
)

// dial connects to cfg.Brokers. The connection retries forever, including
// the first connect, so a gate may start before the broker: requests sent
// meanwhile wait in nats.go's reconnect buffer or time out.
func dial(ctx context.Context, cfg Config, log *slog.Logger) (*nats.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	opts := []nats.Option{
		nats.Name("iogo-external " + cfg.ID),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.CustomReconnectDelay(reconnectDelay),
		nats.ConnectHandler(func(nc *nats.Conn) {
			log.Info("broker connected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("broker disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("broker reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Debug("broker reconnect attempt failed", "err", err)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				log.Warn("broker error", "subject", sub.Subject, "err", err)
				return
			}
			log.Warn("broker error", "err", err)
		}),
	}
	opts = append(opts, cfg.NATSOptions...)
	nc, err := nats.Connect(strings.Join(cfg.Brokers, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("external: connect to broker: %w", err)
	}
	if !nc.IsConnected() {
		log.Warn("broker not reachable yet; retrying in the background", "brokers", cfg.Brokers)
	}
	return nc, nil
}

func reconnectDelay(attempts int) time.Duration {
	d := reconnectMax
	if attempts < 8 {
		d = min(reconnectMin<<attempts, reconnectMax)
	}
	return d + rand.N(d/4+1)
}
