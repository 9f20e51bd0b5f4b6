//go:build unix

package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// installTimeout bounds apt-get, including the wait for the lock.
const installTimeout = 10 * time.Minute

// install installs the redis-server Debian package with apt-get, holding an
// exclusive lock so that test binaries running in parallel install it once.
// A failed install is retried after apt-get update, since the package lists
// of a fresh machine may be empty.
func install(t testing.TB) error {
	if os.Geteuid() != 0 {
		return errors.New("not running as root, cannot apt-get install redis-server")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("no apt-get to install redis-server: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	unlock, err := lock(ctx, filepath.Join(os.TempDir(), "iogo-redistest-apt.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := lookPath(); err == nil {
		return nil // installed by another test binary while we waited
	}
	t.Logf("redistest: installing redis-server with apt-get")
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	installArgs := []string{"install", "-y", "--no-install-recommends", "redis-server"}
	if err := run(installArgs...); err == nil {
		return nil
	}
	if err := run("update"); err != nil {
		return err
	}
	return run(installArgs...)
}

// lock takes an exclusive flock on path, polling until ctx ends, and
// returns its release.
func lock(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	step := 10 * time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
		case <-time.After(step): // polling pace while another process installs
		}
		step = min(2*step, 500*time.Millisecond)
	}
}
