package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
)

// shutdownTimeout bounds the graceful shutdown after a signal.
const shutdownTimeout = 30 * time.Second

// readyPrefix starts the one line printed to stdout when the broker is ready.
const readyPrefix = "iogo broker ready"

// run configures and starts a broker, prints the ready line to stdout, waits
// for ctx to end and shuts the broker down. Logs go to stderr. It returns nil
// when ctx ends, also during start-up.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	s, err := parseSettings(args, getenv, stderr)
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
	line := readyPrefix + " nats=" + b.ClientURL()
	if u := b.ClusterURL(); u != "" {
		line += " cluster=" + u
	}
	return line
}
