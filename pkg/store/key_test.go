package store

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"a", true},
		{"guild.7.member.3", true},
		{"A-Z_a-z=0-9", true},
		{strings.Repeat("k", MaxKeyLen), true},
		{"", false},
		{".", false},
		{"a.", false},
		{".a", false},
		{"a..b", false},
		{"a b", false},
		{"a*", false},
		{"a>", false},
		{"a/b", false},
		{"é", false},
		{strings.Repeat("k", MaxKeyLen+1), false},
	}
	for _, tt := range tests {
		if got := ValidKey(tt.key); got != tt.want {
			t.Errorf("ValidKey(%.20q) = %v, want %v", tt.key, got, tt.want)
		}
	}
}

func TestToken(t *testing.T) {
	tests := []struct {
		name string
		s    string
	}{
		{"ascii", "alice"},
		{"spaces and dots", "the guild. of  wizards"},
		{"unicode", "玩家一号 ✓"},
		{"wildcards", "*>.$"},
		{"binary", "\x00\xff\xfe"},
		{"one byte", "x"},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		tok := Token(tt.s)
		if !ValidKey(tok) || strings.Contains(tok, ".") {
			t.Errorf("%s: Token(%q) = %q is not one valid token", tt.name, tt.s, tok)
		}
		got, err := ParseToken(tok)
		if err != nil || got != tt.s {
			t.Errorf("%s: ParseToken(%q) = %q, %v; want %q", tt.name, tok, got, err, tt.s)
		}
		if prev, ok := seen[tok]; ok {
			t.Errorf("Token(%q) = Token(%q) = %q", tt.s, prev, tok)
		}
		seen[tok] = tt.s
	}
	for _, bad := range []string{"a", "a=", "ab=", "a.b", "a b", "abc*"} {
		if _, err := ParseToken(bad); !errors.Is(err, ErrBadKey) {
			t.Errorf("ParseToken(%q): %v, want ErrBadKey", bad, err)
		}
	}
}

func TestBucketValidate(t *testing.T) {
	tests := []struct {
		b  Bucket
		ok bool
	}{
		{Bucket{Name: "login_accounts"}, true},
		{Bucket{Name: "A-z_9", TTL: time.Second}, true},
		{Bucket{Name: strings.Repeat("b", maxBucketLen)}, true},
		{Bucket{}, false},
		{Bucket{Name: "a.b"}, false},
		{Bucket{Name: "a=b"}, false},
		{Bucket{Name: "a{b}"}, false},
		{Bucket{Name: strings.Repeat("b", maxBucketLen+1)}, false},
		{Bucket{Name: "ttl", TTL: -1}, false},
	}
	for _, tt := range tests {
		err := tt.b.Validate()
		if (err == nil) != tt.ok || err != nil && !errors.Is(err, ErrBadBucket) {
			t.Errorf("Validate(%+v) = %v, want ok %v", tt.b, err, tt.ok)
		}
	}
}

func TestSubjectFilter(t *testing.T) {
	tests := []struct{ prefix, want string }{
		{"", ">"},
		{"guild", ">"},
		{"guild.", "guild.>"},
		{"guild.7", "guild.>"},
		{"guild.7.m", "guild.7.>"},
	}
	for _, tt := range tests {
		if got := subjectFilter(tt.prefix); got != tt.want {
			t.Errorf("subjectFilter(%q) = %q, want %q", tt.prefix, got, tt.want)
		}
	}
}

func TestGlobEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"iogo:{b}:guild.", "iogo:{b}:guild."},
		{`a*b?c[d]e\f^`, `a\*b\?c\[d\]e\\f\^`},
	}
	for _, tt := range tests {
		if got := globEscape(tt.in); got != tt.want {
			t.Errorf("globEscape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
