package route

import (
	"testing"

	demopb "github.com/iogo-dev/iogo/proto/demo"
	loginpb "github.com/iogo-dev/iogo/proto/login"
)

// TestCheckerOnlyForRules: a validator is built, at registration, only for
// a request type with buf.validate rules (on it or a message it holds);
// bare values and messages without rules get none and pay nothing.
func TestCheckerOnlyForRules(t *testing.T) {
	tests := []struct {
		name string
		new  func() (checker, error)
		want bool
	}{
		{"message with rules", newChecker[*loginpb.Register], true},
		{"message with a rule on an int", newChecker[*loginpb.Ban], true},
		{"message without rules", newChecker[*demopb.EchoMsg], false},
		{"message holding messages without rules", newChecker[*loginpb.User], false},
		{"bare value", newChecker[int64], false},
		{"slice", newChecker[[]int32], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.new()
			if err != nil {
				t.Fatal(err)
			}
			if got := c != nil; got != tt.want {
				t.Fatalf("validator built = %v, want %v", got, tt.want)
			}
		})
	}
}

// BenchmarkCheck is the rule check alone on a valid loginpb.Register (two
// lengths and a pattern on the username, byte lengths on the password, a
// length on the nickname), without decoding or dispatch.
func BenchmarkCheck(b *testing.B) {
	check, err := newChecker[*loginpb.Register]()
	if err != nil {
		b.Fatal(err)
	}
	req := &loginpb.Register{Username: "alice_01", Password: "a password", Nickname: "Alice"}
	b.ReportAllocs()
	for b.Loop() {
		if err := check(req); err != nil {
			b.Fatal(err)
		}
	}
}
