package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iogo-dev/iogo/pkg/gen"
	"github.com/iogo-dev/iogo/pkg/svcmain"
)

// TestGeneratedUpToDate fails when the committed API docs and SDKs of the
// bundled services differ from what iogo gen produces now.
func TestGeneratedUpToDate(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, lang, dir string
	}{
		{"markdown docs", "md", "docs/api"},
		{"go sdk", "go", "sdk/go"},
		{"c# sdk", "cs", "sdk/csharp/Iogo"},
		// No Godot here: the committed GDScript is the golden file.
		{"gdscript sdk", "gd", "sdk/gdscript/iogo"},
		// Without protoc-gen-es: the message code under pb/ is checked by
		// tests/TestTypeScriptSDK, which has npm.
		{"typescript sdk", "ts", "sdk/ts/src"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := generate(context.Background(), genConfig{lang: tt.lang, root: root})
			if err != nil {
				t.Fatal(err)
			}
			if len(files) == 0 {
				t.Fatal("nothing generated")
			}
			if stale := gen.Diff(filepath.Join(root, tt.dir), files); len(stale) > 0 {
				t.Fatalf("%s is stale (%s); run `make gen` and commit the result", tt.dir, strings.Join(stale, ", "))
			}
		})
	}
}

func TestRunGen(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	tests := []struct {
		name     string
		args     []string
		code     int
		want     []string // files expected under -out
		inStderr string
	}{
		{"no out", []string{"-lang", "md"}, svcmain.ExitUsage, nil, "-out is required"},
		{"both sources", []string{"-out", "X", "-binary", "a", "-brokers", "nats://x"}, svcmain.ExitUsage, nil, "exclude"},
		{"unknown lang", []string{"-lang", "cobol", "-out", "X"}, svcmain.ExitError, nil, "unknown language"},
		{"unknown service", []string{"-out", "X", "-service", "nope"}, svcmain.ExitError, nil, "not all found"},
		{"markdown", []string{"-lang", "md", "-out", "X"}, svcmain.ExitOK, []string{"README.md", "demo.md", "login.md"}, ""},
		{"one service", []string{"-lang", "go", "-out", "X", "-service", "login"}, svcmain.ExitOK, []string{"loginapi/loginapi.go"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				args[i] = strings.ReplaceAll(a, "X", out)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"gen"}, args...), noEnv, &stdout, &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.inStderr) {
				t.Fatalf("code %d, stderr %q; want %d and %q", code, stderr.String(), tt.code, tt.inStderr)
			}
			for _, f := range tt.want {
				if _, err := os.Stat(filepath.Join(out, f)); err != nil {
					t.Error(err)
				}
			}
		})
	}
}
