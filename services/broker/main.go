// Command broker runs one iogo broker node: an embedded NATS server with
// JetStream and the framework KV buckets. Several nodes started with the same
// -routes list form one cluster. See README.md for flags and environment
// variables.
//
// When the node is ready it prints exactly one line to stdout:
//
//	iogo broker ready nats=<client URL>[ cluster=<route URL>]
//
// Logs go to stderr. SIGINT or SIGTERM shuts the node down gracefully.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "broker:", err)
		os.Exit(1)
	}
}
