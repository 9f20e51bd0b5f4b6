package svcmain

import (
	"flag"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/iogo-dev/iogo/pkg/fabric"
)

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
