// Command logic-demo runs the demo logic service against a broker.
//
//	logic-demo -brokers nats://127.0.0.1:4222
//
// Flags can also be set with IOGO_DEMO_* environment variables; -h lists
// them. It prints "iogo logic ready service=demo instance=ID" once serving.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/svcmain"
	"github.com/iogo-dev/iogo/services/logic-demo/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := svcmain.RunLogic(ctx, svcmain.Logic{
		Service:   demo.Service,
		EnvPrefix: "IOGO_DEMO_",
		Routes:    func() logic.RouteSource { return demo.Router() },
	}, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
