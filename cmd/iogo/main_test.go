package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/client"
	demopb "github.com/iogo-dev/iogo/proto/demo"
)

func none(string) (string, bool) { return "", false }

func TestUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"no command", nil, 2},
		{"unknown", []string{"fly"}, 2},
		{"help", []string{"help"}, 0},
		{"dev help", []string{"dev", "-h"}, 0},
		{"dev bad flag", []string{"dev", "-nope"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code := run(context.Background(), tt.args, none, io.Discard, io.Discard); code != tt.code {
				t.Fatalf("exit %d, want %d", code, tt.code)
			}
		})
	}
}

// TestDev runs `iogo dev` in-process on random ports, calls the demo route
// over both transports and stops it.
func TestDev(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"dev", "-ws", "127.0.0.1:0", "-tcp", "127.0.0.1:0", "-nats", "", "-log-level", "warn"}, none, pw, io.Discard)
		pw.Close()
	}()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "iogo dev ready") {
				ready <- sc.Text()
			}
		}
	}()
	var line string
	select {
	case line = <-ready:
	case code := <-exited:
		t.Fatalf("iogo dev exited with %d", code)
	case <-time.After(10 * time.Second):
		t.Fatal("iogo dev not ready")
	}
	urls := map[string]string{}
	for _, f := range strings.Fields(line) {
		if k, v, ok := strings.Cut(f, "="); ok {
			urls[k] = v
		}
	}
	if _, ok := urls["nats"]; ok {
		t.Fatalf("-nats \"\" must keep the broker in-process: %q", line)
	}
	for _, key := range []string{"ws", "tcp"} {
		t.Run(key, func(t *testing.T) {
			rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
			defer rcancel()
			c, err := client.Dial(rctx, urls[key])
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			resp, err := client.Call[*demopb.HelloReq, *demopb.HelloResp](rctx, c, 2, 0, &demopb.HelloReq{Name: key})
			if err != nil || resp.Text != "hello, "+key {
				t.Fatalf("got %v, %v", resp, err)
			}
		})
	}
	cancel()
	select {
	case code := <-exited:
		if code != 0 {
			t.Fatalf("exit %d after cancel", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("iogo dev did not stop")
	}
	pr.Close()
}
