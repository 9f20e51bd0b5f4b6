package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/svcmain/svcbase"
)

// shutdownTimeout bounds the graceful shutdown after a signal.
const shutdownTimeout = 30 * time.Second

// run configures and starts a broker, prints the ready line to stdout, waits
// for ctx to end and shuts the broker down. Logs go to stderr. It returns nil
// when ctx ends, also during start-up.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	s, err := parseSettings(args, lookupEnv, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: s.logLevel}))
	s.cfg.Logger = log
	b, err := broker.New(s.cfg)
	if err != nil {
		return err
	}

	startCtx := ctx
	if s.startTimeout > 0 {
		var cancel context.CancelFunc
		startCtx, cancel = context.WithTimeout(ctx, s.startTimeout)
		defer cancel()
	}
	if err := b.Start(startCtx); err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return nil // interrupted while starting
		}
		return err
	}
	if _, err := fmt.Fprintln(stdout, readyLine(b)); err != nil {
		log.Warn("writing the ready line", slog.Any("error", err))
	}

	<-ctx.Done()
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	return b.Shutdown(sctx)
}

// readyLine is the line announcing a ready broker:
// "iogo broker ready nats=<client URL>[ cluster=<route URL>]".
func readyLine(b *broker.Broker) string {
	kv := []string{"nats", b.ClientURL()}
	if u := b.ClusterURL(); u != "" {
		kv = append(kv, "cluster", u)
	}
	return svcbase.ReadyLine("broker", kv...)
}
