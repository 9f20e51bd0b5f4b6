// Package redistest runs a real redis-server for tests, installing it with
// apt-get when it is missing and the test runs as root. A test that needs
// Redis never skips: a machine without redis-server fails it.
package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Time limits.
const (
	// startTimeout bounds how long a started server may take to answer PING.
	startTimeout = 20 * time.Second
	// stopTimeout bounds a graceful stop; the server is then killed.
	stopTimeout = 10 * time.Second
	// startAttempts is how often Start tries a new port when the server
	// does not come up (another process may take the free port first).
	startAttempts = 3
)

// Start runs a redis-server on a random loopback port until the test ends
// and returns its address, host:port. The server keeps nothing on disk
// (no RDB snapshots, no AOF). Start fails the test when redis-server can
// neither be found nor installed, or does not start.
func Start(t testing.TB) (addr string) {
	t.Helper()
	bin, err := lookPath()
	if err != nil {
		if err := install(t); err != nil {
			t.Fatalf("redistest: redis-server is not installed and installing it failed: %v", err)
		}
		if bin, err = lookPath(); err != nil {
			t.Fatalf("redistest: redis-server still missing after installing it: %v", err)
		}
	}
	var errs []error
	for range startAttempts {
		addr, err := start(t, bin)
		if err == nil {
			return addr
		}
		errs = append(errs, err)
	}
	t.Fatalf("redistest: %v", errors.Join(errs...))
	return ""
}

// lookPath finds redis-server in PATH or the usual Debian places, which
// are not in the PATH of every user.
func lookPath() (string, error) {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("redis-server not found in PATH, /usr/bin, /usr/sbin or /usr/local/bin")
}

// start runs one redis-server on a free port and waits until it answers.
func start(t testing.TB, bin string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", t.TempDir(),
		"--daemonize", "no",
		"--loglevel", "warning",
	)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			return err
		case <-time.After(stopTimeout):
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on %s did not stop within %v; killed", addr, stopTimeout)
		}
	}

	deadline := time.Now().Add(startTimeout)
	step := time.Millisecond
	for {
		err := ping(addr)
		if err == nil {
			break
		}
		select {
		case werr := <-exited:
			return "", fmt.Errorf("redis-server on %s exited: %v\n%s", addr, werr, out.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = stop()
			return "", fmt.Errorf("redis-server on %s not ready after %v: %v\n%s", addr, startTimeout, err, out.String())
		}
		time.Sleep(step) // polling pace, not a synchronisation sleep
		step = min(2*step, 50*time.Millisecond)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("redistest: stop: %v\n%s", err, out.String())
		}
	})
	return addr, nil
}

// ping sends PING over a fresh connection and expects +PONG.
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a child
// process's stdout and stderr copiers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
