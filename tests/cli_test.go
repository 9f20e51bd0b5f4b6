package tests

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestCLI drives the built `iogo cli` through its stdin, as a script or a
// person would, against `iogo dev`: it lists the routes from the route
// registry, logs in, calls routes with JSON and sees a push arrive.
func TestCLI(t *testing.T) {
	d := startProc(t, "iogo", "dev", "dev", "-ws", "127.0.0.1:0", "-tcp", "127.0.0.1:0", "-nats", "127.0.0.1:0")
	waitServed(t, d.ready["ws"])
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The dev broker's listener takes the tool credential it printed.
	tool, err := url.Parse(d.ready["nats-tool"])
	if err != nil || tool.User == nil {
		t.Fatalf("no tool credential in the ready line: %v (%v)", d.ready, err)
	}
	password, _ := tool.User.Password()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "iogo"), "cli",
		"-url", d.ready["ws"], "-brokers", d.ready["nats"], "-user", tool.User.Username(), "-password", password, "-history", "")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var seen []string
	// expect reads output lines until one matches re, and returns its
	// submatches.
	expect := func(re string) []string {
		t.Helper()
		rx := regexp.MustCompile(re)
		deadline := time.NewTimer(15 * time.Second)
		defer deadline.Stop()
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("output ended before %q; output:\n%s\nstderr:\n%s", re, strings.Join(seen, "\n"), stderr.String())
				}
				seen = append(seen, line)
				if m := rx.FindStringSubmatch(line); m != nil {
					return m
				}
			case <-deadline.C:
				t.Fatalf("no %q within 15s; output:\n%s", re, strings.Join(seen, "\n"))
			}
		}
	}
	say := func(cmd string) {
		t.Helper()
		if _, err := io.WriteString(stdin, cmd+"\n"); err != nil {
			t.Fatal(err)
		}
	}

	expect(`^connected to ws://`)
	say("routes")
	expect(`^routes in the route registry at nats://`)
	expect(`^1-0\s+login\s+public\s+iogo\.login\.GuestLogin\s+iogo\.login\.User`)
	expect(`^2-1\s+demo\s+public\s+iogo\.demo\.EchoMsg\s+iogo\.demo\.EchoMsg`)
	say("call 1 1")
	expect(`^1-1 error -1004 `)
	say("login cli-test alice")
	id := expect(`^logged in: user (\d+), nickname "alice"`)[1]
	say("call 1 1")
	expect(fmt.Sprintf(`^1-1 ok in .*: \{"id":"%s"`, id))
	say(`call 2-1 {"text":"hi","seq":7}`)
	expect(`^2-1 ok in .*: \{"text":"hi","seq":"7"\}$`)
	say("call 2 2 [1,2,3]")
	expect(`^2-2 ok in .*: 6$`)
	say(`call 2 4 {"text":"hello all"}`)
	expect(`^push 2-5: \{"text":"hello all"\}$`)
	say("quit")
	// Reading a script, the console exits 1 when a command failed: here
	// the whoami before login, and that one only.
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("iogo cli: %v, want exit status 1\noutput:\n%s\nstderr:\n%s", err, strings.Join(seen, "\n"), stderr.String())
	}
	for _, line := range seen {
		if strings.HasPrefix(line, "error:") {
			t.Fatalf("a command failed: %s", line)
		}
	}
}
