// Command logic-guild runs the guild logic service against a broker.
//
//	logic-guild -brokers nats://127.0.0.1:4222
//
// Flags can also be set with IOGO_GUILD_* environment variables; -h lists
// them. It prints "iogo logic ready service=guild instance=ID" once serving.
package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"

	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/svcmain"
	"github.com/iogo-dev/iogo/services/logic-guild/guild"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := svcmain.RunLogic(ctx, svcmain.Logic{
		Service:   guild.Service,
		EnvPrefix: "IOGO_GUILD_",
		Module:    func(fs *flag.FlagSet) logic.Module { return guild.FromFlags(fs) },
	}, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
