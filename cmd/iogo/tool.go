package main

import (
	"time"

	"github.com/nats-io/nats.go"

	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/svcmain/svcbase"
)

// connectTool connects a tool (`iogo cli`, `iogo gen`) to the brokers as
// a client of the tool role: with its inbox prefix, so that a broker with
// per-role permissions answers it, and with auth, the options of the
// -user/-password/-nkey-seed flags (or credentials in the URL).
func connectTool(brokers, name string, timeout time.Duration, auth []nats.Option) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name), nats.Timeout(timeout), nats.MaxReconnects(0),
		svcbase.RoleOption(fabric.RoleTool),
	}
	return nats.Connect(brokers, append(opts, auth...)...)
}
