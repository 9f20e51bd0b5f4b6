// Command logic-login runs the login logic service against a broker.
//
//	logic-login -brokers nats://127.0.0.1:4222
//
// Flags can also be set with IOGO_LOGIN_* environment variables; -h lists
// them. It prints "iogo logic ready service=login instance=ID" once serving.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/iogo-dev/iogo/pkg/svcmain"
	"github.com/iogo-dev/iogo/services/logic-login/login"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := svcmain.RunLogic(ctx, svcmain.Logic{
		Service:   login.Service,
		EnvPrefix: "IOGO_LOGIN_",
		Module:    login.FromFlags,
	}, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
