package svcmain

import (
	"flag"
	"fmt"

	"github.com/nats-io/nats.go"
)

// BrokerAuth adds the flags that authenticate a service to the brokers to
// fs: -user and -password (a user of the broker's -user), or -nkey-seed (a
// file holding the seed of an nkey listed in the broker's -nkeys: the
// service proves the key by signing, so no secret crosses the network).
// Call the returned function after parsing for the NATS options.
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
