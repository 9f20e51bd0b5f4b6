package store

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// MaxKeyLen is the longest key, in bytes, that [ValidKey] accepts.
const MaxKeyLen = 1024

// maxBucketLen is the longest bucket name [Bucket.Validate] accepts.
const maxBucketLen = 128

// tokenChar reports whether c may appear in a key token or a bucket name
// (bucket names exclude '=').
func tokenChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '='
}

// ValidKey reports whether key is a valid key: at most [MaxKeyLen] bytes of
// one or more non-empty tokens separated by '.', each made of
// A-Z a-z 0-9 '-' '_' '='.
func ValidKey(key string) bool {
	if key == "" || len(key) > MaxKeyLen {
		return false
	}
	prevDot := true // a key may not start with '.'
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c == '.' {
			if prevDot {
				return false
			}
			prevDot = true
			continue
		}
		if !tokenChar(c) {
			return false
		}
		prevDot = false
	}
	return !prevDot
}

// validPrefix reports whether prefix may be given to [KV.Keys] or
// [KV.Watch]: "", a valid key, or a valid key followed by '.'.
func validPrefix(prefix string) bool {
	return prefix == "" || ValidKey(strings.TrimSuffix(prefix, "."))
}

// checkKey returns an error wrapping [ErrBadKey] when key is not valid.
func checkKey(key string) error {
	if !ValidKey(key) {
		return fmt.Errorf("%w: %q", ErrBadKey, key)
	}
	return nil
}

// checkPrefix returns an error wrapping [ErrBadKey] when prefix is not a
// valid key prefix.
func checkPrefix(prefix string) error {
	if !validPrefix(prefix) {
		return fmt.Errorf("%w: prefix %q", ErrBadKey, prefix)
	}
	return nil
}

// Token encodes an arbitrary string, such as a player or guild name, as one
// valid key token (unpadded URL-safe base64), so that it can be part of a
// key: "guild." + store.Token(name). The encoding is reversible with
// [ParseToken] and injective: distinct strings give distinct tokens. The
// empty string gives the empty token, which is not valid on its own.
func Token(s string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

// ParseToken decodes a token made by [Token]. It fails, wrapping
// [ErrBadKey], on a string that Token cannot have produced.
func ParseToken(tok string) (string, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil {
		return "", fmt.Errorf("%w: token %q: %w", ErrBadKey, tok, err)
	}
	return string(b), nil
}

// Validate reports whether b can be opened: its Name must be 1 to 128
// bytes of A-Z a-z 0-9 '-' '_', and its TTL must not be negative. The error
// wraps [ErrBadBucket].
func (b Bucket) Validate() error {
	if b.Name == "" || len(b.Name) > maxBucketLen {
		return fmt.Errorf("%w: name %q must be 1 to %d bytes", ErrBadBucket, b.Name, maxBucketLen)
	}
	for i := 0; i < len(b.Name); i++ {
		if c := b.Name[i]; c == '=' || !tokenChar(c) {
			return fmt.Errorf("%w: name %q has %q; use A-Z a-z 0-9 - _", ErrBadBucket, b.Name, c)
		}
	}
	if b.TTL < 0 {
		return fmt.Errorf("%w: negative TTL %v", ErrBadBucket, b.TTL)
	}
	return nil
}
