// Command logic-rank runs the rank (leaderboard) logic service against a
// broker.
//
//	logic-rank -brokers nats://127.0.0.1:4222 -boards '[{"id":"weekly","reset":"0 0 * * 1"}]'
//
// Flags can also be set with IOGO_RANK_* environment variables; -h lists
// them. It prints "iogo logic ready service=rank instance=ID" once serving.
package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"

	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/svcmain"
	"github.com/iogo-dev/iogo/services/logic-rank/rank"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := svcmain.RunLogic(ctx, svcmain.Logic{
		Service:   rank.Service,
		EnvPrefix: "IOGO_RANK_",
		Module:    func(fs *flag.FlagSet) logic.Module { return rank.FromFlags(fs) },
	}, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
