// Command external runs an iogo external server (gate): it accepts game
// clients over WebSocket, TCP and KCP and connects them to the logic
// servers through the NATS brokers.
//
// Once serving it prints one line to stdout,
//
//	iogo external ready ws=ws://127.0.0.1:10100/websocket tcp=tcp://127.0.0.1:10200 kcp=kcp://127.0.0.1:10300
//
// (wss:// and tls:// when it serves TLS, with the certificate's sha256=),
// and logs go to stderr. SIGINT or SIGTERM shuts it down gracefully;
// SIGHUP reloads the TLS certificate files.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/iogo-dev/iogo/pkg/external"
	"github.com/iogo-dev/iogo/pkg/trace"
)

// Start-up and shutdown limits.
const (
	startTimeout    = 30 * time.Second
	shutdownTimeout = 10 * time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run serves until ctx ends and returns the exit code: 0 after a clean
// shutdown, 1 on a failure, 2 on bad flags.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	s, err := parseArgs(args, lookupEnv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "external:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: s.logLevel}))
	s.cfg.Logger = log
	// OTLP tracing when OTEL_EXPORTER_OTLP_ENDPOINT is set (package trace).
	tp, stopTracing, err := trace.Setup(ctx, "external", s.cfg.ID)
	if err != nil {
		log.Error("tracing", "err", err)
		return 1
	}
	defer func() {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		if err := stopTracing(tctx); err != nil {
			log.Warn("tracing shutdown", "err", err)
		}
	}()
	s.cfg.TracerProvider = tp
	srv, err := external.New(s.cfg)
	if err != nil {
		log.Error("invalid configuration", "err", err)
		return 2
	}
	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	err = srv.Start(sctx)
	cancel()
	if err != nil {
		log.Error("start failed", "err", err)
		return 1
	}
	wsPath := s.cfg.WSPath
	if wsPath == "" {
		wsPath = external.DefaultWSPath
	}
	tlsOn := s.cfg.TLSCertFile != "" || s.cfg.TLSSelfSigned
	fmt.Fprintln(stdout, readyLineTLS(srv.WSAddr(), srv.TCPAddr(), srv.KCPAddr(), wsPath, tlsOn, srv.TLSFingerprint()))

	// SIGHUP reloads the TLS certificate files (they are also checked for
	// a change at every handshake, at most once a second).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for done := false; !done; {
		select {
		case <-hup:
			if err := srv.ReloadTLS(); err != nil {
				log.Warn("SIGHUP: TLS not reloaded", slog.Any("error", err))
			} else {
				log.Info("SIGHUP: TLS certificate reloaded", "sha256", srv.TLSFingerprint())
			}
		case <-ctx.Done():
			done = true
		}
	}
	sctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	return 0
}
