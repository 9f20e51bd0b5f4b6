package svcmain

import (
	"context"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
)

func TestRunLogicUsage(t *testing.T) {
	spec := Logic{Service: "demo", EnvPrefix: "IOGO_DEMO_", Routes: func() logic.RouteSource {
		r := route.NewRouter()
		route.Handle(r.Group(1), 0, func(*logic.Ctx, int32) (int32, error) { return 0, nil })
		return r
	}}
	none := func(string) (string, bool) { return "", false }
	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"help", []string{"-h"}, ExitOK, "IOGO_DEMO_BROKERS"},
		{"bad flag", []string{"-nope"}, ExitUsage, "not defined"},
		{"bad level", []string{"-log-level", "loud"}, ExitUsage, "log level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr strings.Builder
			if code := RunLogic(context.Background(), spec, tt.args, none, io.Discard, &stderr); code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.out) {
				t.Fatalf("stderr lacks %q:\n%s", tt.out, stderr.String())
			}
		})
	}
}

// A bad -redis URL is a usage error, reported before any broker is dialled.
func TestRunLogicBadRedisURL(t *testing.T) {
	spec := Logic{Service: "counter", EnvPrefix: "IOGO_COUNTER_", Module: func(*flag.FlagSet) logic.Module { return &counter{} }}
	none := func(string) (string, bool) { return "", false }
	// Nothing listens on port 1: without the check, Start would wait for a
	// broker until -start-timeout and fail with ExitError.
	args := []string{"-brokers", "nats://127.0.0.1:1", "-start-timeout", "2s", "-redis", "http://nowhere"}
	var stderr strings.Builder
	if code := RunLogic(context.Background(), spec, args, none, io.Discard, &stderr); code != ExitUsage {
		t.Fatalf("exit %d, want %d: %s", code, ExitUsage, stderr.String())
	}
	if !strings.Contains(stderr.String(), "-redis") {
		t.Fatalf("stderr does not name -redis:\n%s", stderr.String())
	}
}
