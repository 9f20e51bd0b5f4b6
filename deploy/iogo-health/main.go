// Command iogo-health is the health check of iogo's container images. The
// images are FROM scratch, with no shell, curl or nc, so Docker's
// HEALTHCHECK (and Compose's healthcheck) runs this static binary instead:
//
//	iogo-health http://127.0.0.1:8222/healthz   # an HTTP GET answered 2xx (broker monitoring)
//	iogo-health tcp://127.0.0.1:10200           # a TCP port that accepts (gate)
//	iogo-health -service login                  # a logic service answers over NATS
//
// The -service check sends a NATS micro PING for the service (every iogo
// logic server registers a micro service under its name, see pkg/stats)
// and succeeds when an instance answers; when the service's instance ID is
// set (IOGO_LOGIN_ID, or -instance) it waits for that instance. It reads
// the broker URLs and credentials from the service's own environment
// variables (IOGO_LOGIN_BROKERS, _USER, _PASSWORD, _NKEY_SEED), so it runs
// with the service's configuration and needs none of its own: it connects
// as the service's role (logic), with that role's inbox prefix.
//
// It exits 0 when healthy, 1 when not and 2 on bad usage, and prints one
// line saying why.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// metaInstance is the micro metadata key holding an iogo instance ID
// (pkg/stats.MetaInstance; repeated here to keep this binary small).
const metaInstance = "iogo.instance"

// logicInbox is the inbox prefix of the logic role
// (fabric.InboxPrefix(fabric.RoleLogic)): the check connects with the
// logic service's credentials, and a broker with per-role users answers
// that role on its own inboxes only.
const logicInbox = "_INBOX.logic"

func main() {
	os.Exit(run(os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr))
}

// run is the whole command; it returns the exit code.
func run(args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("iogo-health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	service := fs.String("service", "", "logic service to check over NATS (a micro PING), e.g. login")
	prefix := fs.String("env-prefix", "", "prefix of the service's environment variables (default IOGO_<SERVICE>_)")
	instance := fs.String("instance", "", "instance ID that must answer (default <prefix>ID; empty: any instance)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: iogo-health [flags] http://HOST:PORT/PATH | tcp://HOST:PORT\n"+
			"       iogo-health [flags] -service NAME\n\n"+
			"Exits 0 when the target is healthy, 1 when not.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var (
		what string
		err  error
	)
	switch {
	case *service != "" && fs.NArg() == 0:
		p := *prefix
		if p == "" {
			p = "IOGO_" + strings.ToUpper(strings.ReplaceAll(*service, "-", "_")) + "_"
		}
		env := func(name string) string { v, _ := lookupEnv(p + name); return v }
		id := *instance
		if id == "" {
			id = env("ID")
		}
		what, err = checkService(ctx, *service, id, natsSettings{
			urls: env("BROKERS"), user: env("USER"), password: env("PASSWORD"), seed: env("NKEY_SEED"),
		})
	case *service == "" && fs.NArg() == 1:
		what, err = checkURL(ctx, fs.Arg(0))
	default:
		fs.Usage()
		return 2
	}
	if err != nil {
		fmt.Fprintln(stdout, "unhealthy:", err)
		return 1
	}
	fmt.Fprintln(stdout, "healthy:", what)
	return 0
}

// checkURL checks an http(s):// or tcp:// target.
func checkURL(ctx context.Context, target string) (string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "http", "https":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return "", err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		if resp.StatusCode/100 != 2 {
			return "", fmt.Errorf("%s: %s %s", target, resp.Status, strings.TrimSpace(string(body)))
		}
		return fmt.Sprintf("%s: %s", target, resp.Status), nil
	case "tcp":
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return "", err
		}
		_ = c.Close()
		return target + " accepts connections", nil
	}
	return "", fmt.Errorf("%q: want http://, https:// or tcp://", target)
}

// natsSettings are how a service reaches the brokers.
type natsSettings struct{ urls, user, password, seed string }

// pingResponse is the part of a NATS micro PING response read here.
type pingResponse struct {
	Name     string            `json:"name"`
	ID       string            `json:"id"`
	Metadata map[string]string `json:"metadata"`
}

// checkService sends a micro PING for service and waits for an answer from
// any instance, or from instance when it is set.
func checkService(ctx context.Context, service, instance string, s natsSettings) (string, error) {
	urls := s.urls
	if urls == "" {
		urls = nats.DefaultURL
	}
	opts := []nats.Option{nats.Name("iogo-health " + service), nats.NoReconnect(), nats.CustomInboxPrefix(logicInbox)}
	if dl, ok := ctx.Deadline(); ok {
		opts = append(opts, nats.Timeout(time.Until(dl)))
	}
	switch {
	case s.seed != "":
		opt, err := nats.NkeyOptionFromSeed(s.seed)
		if err != nil {
			return "", err
		}
		opts = append(opts, opt)
	case s.user != "":
		opts = append(opts, nats.UserInfo(s.user, s.password))
	}
	nc, err := nats.Connect(urls, opts...)
	if err != nil {
		return "", fmt.Errorf("brokers %s: %w", urls, err)
	}
	defer nc.Close()
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return "", err
	}
	if err := nc.PublishRequest("$SRV.PING."+service, inbox, nil); err != nil {
		return "", err
	}
	seen := 0
	for {
		msg, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			if instance != "" && seen > 0 {
				return "", fmt.Errorf("instance %s of %s did not answer (%d other instances did)", instance, service, seen)
			}
			return "", fmt.Errorf("no instance of service %s answered: %w", service, err)
		}
		var p pingResponse
		if json.Unmarshal(msg.Data, &p) != nil || p.Name != service {
			continue
		}
		seen++
		if instance == "" || p.Metadata[metaInstance] == instance {
			return fmt.Sprintf("service %s instance %s answers", service, p.Metadata[metaInstance]), nil
		}
	}
}
