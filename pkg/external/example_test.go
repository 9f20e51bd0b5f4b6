package external_test

import (
	"context"
	"log"
	"os/signal"
	"syscall"

	"github.com/iogo-dev/iogo/pkg/external"
)

func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv, err := external.New(external.Config{
		WSAddr:  ":10100",
		TCPAddr: ":10200",
		Brokers: []string{"nats://127.0.0.1:4222"},
	})
	if err != nil {
		log.Print(err)
		return
	}
	// Run serves until ctx ends, then shuts down gracefully.
	if err := srv.Run(ctx); err != nil {
		log.Print(err)
	}
}
