package gen

import (
	"testing"

	demopb "github.com/iogo-dev/iogo/proto/demo"
	loginpb "github.com/iogo-dev/iogo/proto/login"
)

// TestFieldRules: the docs show a field's buf.validate rules in a stable
// form, and nothing for a field without rules.
func TestFieldRules(t *testing.T) {
	reg := (&loginpb.Register{}).ProtoReflect().Descriptor().Fields()
	ban := (&loginpb.Ban{}).ProtoReflect().Descriptor().Fields()
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"string rules", fieldRules(reg.ByName("username")),
			`string.min_len = 3, string.max_len = 32, string.pattern = "^[A-Za-z0-9._-]*$"`},
		{"int rule", fieldRules(ban.ByName("user_id")), "int64.gt = 0"},
		{"no rules", fieldRules(ban.ByName("until_ms")), ""},
		{"message without rules", fieldRules((&demopb.EchoMsg{}).ProtoReflect().Descriptor().Fields().Get(0)), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}
