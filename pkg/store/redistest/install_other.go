//go:build !unix

package redistest

import (
	"errors"
	"testing"
)

// install fails: redistest installs redis-server with apt-get, on Debian-like
// systems only. Install it by hand on this system.
func install(testing.TB) error {
	return errors.New("installing redis-server automatically needs apt-get on a Unix system")
}
