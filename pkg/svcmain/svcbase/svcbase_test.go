package svcbase

import (
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    string
		wantN   int
		wantErr string
	}{
		{"default", nil, nil, "def", 1, ""},
		{"env", map[string]string{"X_NAME": "env", "X_MAX_COUNT": "3"}, nil, "env", 3, ""},
		{"empty env counts", map[string]string{"X_NAME": ""}, nil, "", 1, ""},
		{"flag beats env", map[string]string{"X_NAME": "env"}, []string{"-name", "flag"}, "flag", 1, ""},
		{"bad env", map[string]string{"X_MAX_COUNT": "many"}, nil, "", 0, "X_MAX_COUNT"},
		{"extra args", nil, []string{"a"}, "", 0, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			name := fs.String("name", "def", "a name")
			n := fs.Int("max-count", 1, "a count")
			err := ParseFlags(fs, "X_", tt.args, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || *name != tt.want || *n != tt.wantN {
				t.Fatalf("got %q %d %v", *name, *n, err)
			}
		})
	}
}

func TestHelpers(t *testing.T) {
	if got := SplitList(" a, ,b,,c "); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Fatalf("SplitList = %q", got)
	}
	if got := ReadyLine("x", "a", "1", "b", "2"); got != "iogo x ready a=1 b=2" {
		t.Fatalf("ReadyLine = %q", got)
	}
	if got := EnvName("IOGO_X_", "max-frame"); got != "IOGO_X_MAX_FRAME" {
		t.Fatalf("EnvName = %q", got)
	}
	if _, err := NewLogger(io.Discard, "loud"); err == nil {
		t.Fatal("bad level accepted")
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.String("log-level", "", "level")
	AnnotateEnv(fs, "P_")
	if u := fs.Lookup("log-level").Usage; u != "level (env P_LOG_LEVEL)" {
		t.Fatalf("usage %q", u)
	}
}
