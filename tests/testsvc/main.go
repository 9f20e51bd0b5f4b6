// Command testsvc is a logic service for the end-to-end tests: routes that
// exercise each communication model and record what happened, served as a
// real process. Each group of routes lives in its own file.
//
//	testsvc -service NAME -brokers URL
//
// Several instances may run with the same or different service names.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
	"github.com/iogo-dev/iogo/pkg/svcmain"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	service := os.Getenv("IOGO_TESTSVC_SERVICE")
	if service == "" {
		service = "testsvc"
	}
	code := svcmain.RunLogic(ctx, svcmain.Logic{
		Service:   service,
		EnvPrefix: "IOGO_TESTSVC_",
		Routes:    func() logic.RouteSource { return routes() },
	}, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// routes collects every group of test routes. Each file registers one cmd.
func routes() *route.Router {
	r := route.NewRouter()
	registerBasics(r) // cmd 20
	registerGate(r)   // cmd 21
	registerModels(r) // cmd 22
	registerCalls(r)  // cmd 23
	registerRegion(r) // cmd 31
	return r
}
