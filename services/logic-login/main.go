// Command logic-login runs the login logic service against a broker.
//
//	logic-login -brokers nats://127.0.0.1:4222
//
// Flags can also be set with IOGO_LOGIN_* environment variables; -h lists
// them. Besides the tokens and argon2id parameters they set the
// protections against floods and guessing (login.FromFlags): failed-login
// limits (-rate-ip, -rate-account, -slow-account, -slow-delay), sign-up
// limits (-signup-ip, -signup-global, -guest-ip, -guest-global and their
// windows) and the password-hash queue (-hash-concurrency,
// -hash-signup-slots, -hash-queue, -hash-queue-ip, -hash-wait). It prints
// "iogo logic ready service=login instance=ID" once serving.
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
