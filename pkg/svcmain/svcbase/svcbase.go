// Package svcbase holds what the main of every iogo service binary shares:
// flags that environment variables can also set, broker authentication and
// the client role's inbox prefix, the logger, and the ready line that tells
// a supervisor (or a test) where a service serves.
//
// It depends on no runtime (no logic server, no Kafka client, no code
// generator), so the broker and gate binaries link only what they use;
// package svcmain builds the whole main of a logic service on top of it.
// Everything here returns errors; only a main package exits.
package svcbase

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/iogo-dev/iogo/pkg/fabric"
)

// ParseFlags sets fs from environment variables, then from args: a flag
// beats its variable, which beats the flag's default. The variable of flag
// -max-frame with prefix IOGO_EXTERNAL_ is IOGO_EXTERNAL_MAX_FRAME; a
// variable set to "" counts. lookupEnv is os.LookupEnv in production.
func ParseFlags(fs *flag.FlagSet, prefix string, args []string, lookupEnv func(string) (string, bool)) error {
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := EnvName(prefix, f.Name)
		if v, ok := lookupEnv(name); ok && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", name, v, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return nil
}

// AnnotateEnv appends " (env NAME)" to the usage text of every flag of fs,
// so that -h lists the environment variables too. Call it after defining
// the flags.
func AnnotateEnv(fs *flag.FlagSet, prefix string) {
	fs.VisitAll(func(f *flag.Flag) { f.Usage += " (env " + EnvName(prefix, f.Name) + ")" })
}

// EnvName returns the environment variable of a flag.
func EnvName(prefix, flagName string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// SplitList splits a comma-separated list, dropping blanks.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// NewLogger returns a text logger on w at the named level (debug, info,
// warn or error).
func NewLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// ReadyLine formats the one line a service prints to stdout once it
// serves: "iogo <component> ready k1=v1 k2=v2", pairs in the given order.
func ReadyLine(component string, kv ...string) string {
	var b strings.Builder
	b.WriteString("iogo ")
	b.WriteString(component)
	b.WriteString(" ready")
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString(" ")
		b.WriteString(kv[i])
		b.WriteString("=")
		b.WriteString(kv[i+1])
	}
	return b.String()
}

// Dialable renders a listen address as one a client on this host can dial:
// a wildcard host ("0.0.0.0", "::") becomes 127.0.0.1.
func Dialable(a net.Addr) string {
	var ip net.IP
	var port int
	switch t := a.(type) {
	case *net.TCPAddr:
		ip, port = t.IP, t.Port
	case *net.UDPAddr:
		ip, port = t.IP, t.Port
	default:
		return a.String()
	}
	if ip == nil || ip.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	return a.String()
}

// RoleOption returns the NATS option that a client of role (fabric.RoleGate,
// RoleLogic, RoleTool) connects with: its inbox prefix
// (fabric.InboxPrefix). A broker with per-role users lets a role subscribe
// to its own inboxes only, so a client without it gets no replies there;
// elsewhere it changes nothing. Every service binary sets it.
func RoleOption(role string) nats.Option {
	return nats.CustomInboxPrefix(fabric.InboxPrefix(role))
}

// BrokerAuth adds the flags that authenticate a service to the brokers to
// fs: -user and -password (a user of the broker's -user), or -nkey-seed (a
// file holding the seed of an nkey listed in the broker's -nkeys: the
// service proves the key by signing, so no secret crosses the network).
// Call the returned function after parsing for the NATS options. The user
// is one of the broker's users of the service's role (broker -gate-user,
// -logic-user, -tool-user); add RoleOption for that role.
func BrokerAuth(fs *flag.FlagSet) func() ([]nats.Option, error) {
	user := fs.String("user", "", "broker user name")
	password := fs.String("password", "", "broker password; prefer the environment variable")
	seed := fs.String("nkey-seed", "", "file with the nkey seed (SU...) to authenticate with; the broker lists its public key in -nkeys")
	return func() ([]nats.Option, error) {
		switch {
		case *seed != "" && *user != "":
			return nil, fmt.Errorf("-nkey-seed and -user exclude each other")
		case *seed != "":
			opt, err := nats.NkeyOptionFromSeed(*seed)
			if err != nil {
				return nil, fmt.Errorf("-nkey-seed: %w", err)
			}
			return []nats.Option{opt}, nil
		case *user != "":
			return []nats.Option{nats.UserInfo(*user, *password)}, nil
		case *password != "":
			return nil, fmt.Errorf("-password without -user")
		}
		return nil, nil
	}
}
