// Command iogo is the iogo developer tool.
//
//	iogo dev     run broker, external server and the bundled logic services
//	             in one process, with in-process NATS connections
//	iogo sim     simulate players running a scenario; report throughput,
//	             latency quantiles and errors (text, JSON, HTML plot)
//	iogo cli     interactive console client
//	iogo gen     generate API docs and typed client SDKs (Markdown, Go,
//	             TypeScript, C#, GDScript) from the route tables of services
//	iogo new     scaffold a logic service (services/logic-NAME) and
//	             register it in go.work and `iogo dev`
//
// Run "iogo <command> -h" for a command's flags.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/iogo-dev/iogo/pkg/svcmain"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand and returns the exit code.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return svcmain.ExitUsage
	}
	switch args[0] {
	case "dev":
		return runDev(ctx, args[1:], lookupEnv, stdout, stderr)
	case "sim":
		return runSim(ctx, args[1:], lookupEnv, stdout, stderr)
	case "cli":
		return runCLI(ctx, args[1:], lookupEnv, os.Stdin, stdout, stderr)
	case "gen":
		return runGen(ctx, args[1:], lookupEnv, stdout, stderr)
	case "new":
		return runNew(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return svcmain.ExitOK
	}
	fmt.Fprintf(stderr, "iogo: unknown command %q\n\n", args[0])
	usage(stderr)
	return svcmain.ExitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `iogo is the developer tool of the iogo game-server framework.

Usage:
  iogo dev [flags]   run broker, external server and the bundled logic services in one process
  iogo sim [flags]   simulate players against a server and report throughput and latency
  iogo cli [flags]   interactive console client: log in, list and call routes, watch pushes
  iogo gen [flags]   generate API docs and typed client SDKs from the services' routes
  iogo new service NAME
                     scaffold services/logic-NAME and register it in go.work and iogo dev

Run "iogo <command> -h" for the flags of a command.
`)
}
