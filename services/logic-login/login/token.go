package login

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"time"
)

// Token kinds.
const (
	kindSession byte = 's'
	kindRefresh byte = 'r'
)

// tokenVersion is the first byte of every token payload.
const tokenVersion byte = 1

// maxToken is the longest token string accepted.
const maxToken = 512

var errToken = errors.New("login: malformed or forged token")

// claims is what a token says. Session and refresh tokens of one login
// share its family: revoking the family revokes both.
type claims struct {
	Kind    byte
	User    int64
	Family  family
	Gen     uint64    // refresh tokens: the rotation number within the family
	Epoch   uint64    // the account's token epoch at issue (RevokeAll raises it)
	Issued  time.Time // nanosecond precision, compared with revocations
	Expires time.Time // millisecond precision
}

// family identifies the tokens of one login.
type family [16]byte

func newFamily() family {
	var f family
	_, _ = rand.Read(f[:]) // crypto/rand.Read never fails (Go 1.24+)
	return f
}

// key renders the family as a store key token.
func (f family) key() string { return base64.RawURLEncoding.EncodeToString(f[:]) }

// signer signs tokens with the first secret and accepts any of them, so a
// secret can be rotated: add the new one first, drop the old one after the
// refresh TTL.
type signer struct {
	secrets [][]byte
}

// Sign encodes c as base64url(payload) "." base64url(HMAC-SHA256(payload)).
func (s *signer) Sign(c claims) string {
	p := make([]byte, 0, 48)
	p = append(p, tokenVersion, c.Kind)
	p = binary.AppendUvarint(p, uint64(c.User))
	p = append(p, c.Family[:]...)
	p = binary.AppendUvarint(p, c.Gen)
	p = binary.AppendUvarint(p, c.Epoch)
	p = binary.AppendVarint(p, c.Issued.UnixNano())
	p = binary.AppendVarint(p, c.Expires.UnixMilli())
	mac := hmac.New(sha256.New, s.secrets[0])
	mac.Write(p)
	enc := base64.RawURLEncoding
	var b strings.Builder
	b.Grow(enc.EncodedLen(len(p)) + 1 + enc.EncodedLen(sha256.Size))
	b.WriteString(enc.EncodeToString(p))
	b.WriteByte('.')
	b.WriteString(enc.EncodeToString(mac.Sum(nil)))
	return b.String()
}

// Verify checks tok's signature and kind and decodes it; it does not check
// expiry or revocation.
func (s *signer) Verify(tok string, kind byte) (claims, error) {
	var c claims
	if len(tok) > maxToken {
		return c, errToken
	}
	ps, ms, ok := strings.Cut(tok, ".")
	if !ok {
		return c, errToken
	}
	enc := base64.RawURLEncoding
	p, err := enc.DecodeString(ps)
	if err != nil {
		return c, errToken
	}
	sig, err := enc.DecodeString(ms)
	if err != nil || len(sig) != sha256.Size {
		return c, errToken
	}
	valid := false
	for _, k := range s.secrets {
		mac := hmac.New(sha256.New, k)
		mac.Write(p)
		if hmac.Equal(mac.Sum(nil), sig) {
			valid = true
			break
		}
	}
	if !valid {
		return c, errToken
	}
	if len(p) < 2 || p[0] != tokenVersion || p[1] != kind {
		return c, errToken
	}
	c.Kind, p = p[1], p[2:]
	user, n := binary.Uvarint(p)
	if n <= 0 || len(p[n:]) < len(c.Family) {
		return c, errToken
	}
	c.User, p = int64(user), p[n:]
	copy(c.Family[:], p)
	p = p[len(c.Family):]
	if c.Gen, n = binary.Uvarint(p); n <= 0 {
		return c, errToken
	}
	p = p[n:]
	if c.Epoch, n = binary.Uvarint(p); n <= 0 {
		return c, errToken
	}
	p = p[n:]
	iss, n := binary.Varint(p)
	if n <= 0 {
		return c, errToken
	}
	p = p[n:]
	exp, n := binary.Varint(p)
	if n <= 0 || n != len(p) {
		return c, errToken
	}
	c.Issued, c.Expires = time.Unix(0, iss), time.UnixMilli(exp)
	return c, nil
}
