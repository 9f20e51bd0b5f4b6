package svcbase

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
)

func TestBrokerAuth(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	seedFile := filepath.Join(t.TempDir(), "svc.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		opts    int
		wantErr string
	}{
		{"none", nil, 0, ""},
		{"user and password", []string{"-user", "svc", "-password", "pw"}, 1, ""},
		{"nkey seed", []string{"-nkey-seed", seedFile}, 1, ""},
		{"missing seed file", []string{"-nkey-seed", filepath.Join(t.TempDir(), "nope")}, 0, "-nkey-seed"},
		{"seed and user", []string{"-nkey-seed", seedFile, "-user", "svc"}, 0, "exclude"},
		{"password alone", []string{"-password", "pw"}, 0, "without -user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			auth := BrokerAuth(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			opts, err := auth()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(opts) != tt.opts {
				t.Fatalf("%d options, %v; want %d", len(opts), err, tt.opts)
			}
		})
	}
}
