package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/iogo-dev/iogo/pkg/fabric"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// readyFields parses the key=value pairs of a ready line.
func readyFields(t *testing.T, line string) map[string]string {
	t.Helper()
	rest, ok := strings.CutPrefix(line, "iogo broker ready ")
	if !ok {
		t.Fatalf("not a ready line: %q", line)
	}
	fields := map[string]string{}
	for kv := range strings.FieldsSeq(rest) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("field %q in %q is not key=value", kv, line)
		}
		fields[k] = v
	}
	return fields
}

func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		connect []nats.Option
	}{
		{name: "flags", args: []string{"-host", "127.0.0.1", "-port", "-1", "-log-level", "error"}},
		{
			name: "environment with auth",
			env: map[string]string{
				"IOGO_BROKER_HOST": "127.0.0.1", "IOGO_BROKER_PORT": "-1", "IOGO_BROKER_LOG_LEVEL": "error",
				"IOGO_BROKER_USER": "svc", "IOGO_BROKER_PASSWORD": "pw",
			},
			connect: []nats.Option{nats.UserInfo("svc", "pw")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			stdoutR, stdoutW := io.Pipe()
			errc := make(chan error, 1)
			go func() {
				err := run(ctx, tt.args, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }, stdoutW, io.Discard)
				stdoutW.CloseWithError(io.EOF)
				errc <- err
			}()

			lines := bufio.NewScanner(stdoutR)
			if !lines.Scan() {
				t.Fatalf("no ready line; run: %v", <-errc)
			}
			line := lines.Text()
			fields := readyFields(t, line)
			if len(fields) != 1 || !strings.HasPrefix(fields["nats"], "nats://127.0.0.1:") {
				t.Fatalf("ready line %q: fields %v", line, fields)
			}

			nc, err := nats.Connect(fields["nats"], tt.connect...)
			if err != nil {
				t.Fatalf("connect to %s: %v", fields["nats"], err)
			}
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range fabric.Buckets() {
				if _, err := js.KeyValue(ctx, name); err != nil {
					t.Errorf("bucket %s: %v", name, err)
				}
			}
			nc.Close()

			cancel()
			select {
			case err := <-errc:
				if err != nil {
					t.Fatalf("run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("run did not return after cancel")
			}
			if lines.Scan() {
				t.Errorf("more than one line on stdout: %q", lines.Text())
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"bad flag", []string{"-port", "x"}, "invalid value"},
		{"cluster never forms", []string{
			"-host", "127.0.0.1", "-port", "-1", "-cluster-port", "-1", "-log-level", "error",
			"-routes", "127.0.0.1:1,127.0.0.1:2", "-start-timeout", "200ms",
		}, "deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout strings.Builder
			err := run(t.Context(), tt.args, func(string) (string, bool) { return "", false }, &stdout, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("run: %v, want error containing %q", err, tt.wantErr)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}

func TestRunInterruptedWhileStarting(t *testing.T) {
	// A cluster that cannot form keeps Start waiting until ctx is canceled,
	// which counts as a clean stop.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stop := time.AfterFunc(200*time.Millisecond, cancel)
	defer stop.Stop()
	args := []string{"-host", "127.0.0.1", "-port", "-1", "-cluster-port", "-1", "-log-level", "error",
		"-routes", "127.0.0.1:1,127.0.0.1:2"}
	var stdout strings.Builder
	if err := run(ctx, args, func(string) (string, bool) { return "", false }, &stdout, io.Discard); err != nil {
		t.Fatalf("run: %v, want nil", err)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout %q, want nothing", stdout.String())
	}
}
