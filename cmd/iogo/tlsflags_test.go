package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTLSFlags(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	pin := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		args []string
		opts int
		err  string
	}{
		{"none", nil, 0, ""},
		{"pin", []string{"-tls-pin", pin}, 1, ""},
		{"insecure", []string{"-tls-insecure"}, 1, ""},
		{"bad pin", []string{"-tls-pin", "abc"}, 0, "-tls-pin"},
		{"missing ca", []string{"-tls-ca", filepath.Join(dir, "nope.pem")}, 0, "-tls-ca"},
		{"empty ca", []string{"-tls-ca", empty}, 0, "no certificate"},
		{"two", []string{"-tls-pin", pin, "-tls-insecure"}, 0, "exclude"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			get := tlsFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			opts, err := get()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || len(opts) != tt.opts {
				t.Fatalf("%d options, %v; want %d", len(opts), err, tt.opts)
			}
		})
	}
}
