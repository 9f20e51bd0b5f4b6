package login

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2 are the argon2id parameters of new password hashes. A stored hash
// records its own parameters, so changing them keeps old passwords
// working; a login with a hash of other parameters rehashes the password.
type Argon2 struct {
	// Memory in KiB; default 19456 (19 MiB, the OWASP minimum).
	Memory uint32
	// Time is the number of passes; default 2.
	Time uint32
	// Threads is the parallelism; default 1.
	Threads uint8
	// SaltLen in bytes; default 16.
	SaltLen uint32
	// KeyLen in bytes; default 32.
	KeyLen uint32
}

// Default argon2id parameters (OWASP's first recommended set).
const (
	DefaultArgonMemory  = 19 * 1024
	DefaultArgonTime    = 2
	DefaultArgonThreads = 1
)

func (a Argon2) withDefaults() Argon2 {
	if a.Memory == 0 {
		a.Memory = DefaultArgonMemory
	}
	if a.Time == 0 {
		a.Time = DefaultArgonTime
	}
	if a.Threads == 0 {
		a.Threads = DefaultArgonThreads
	}
	if a.SaltLen == 0 {
		a.SaltLen = 16
	}
	if a.KeyLen == 0 {
		a.KeyLen = 32
	}
	return a
}

var errHashFormat = errors.New("login: malformed password hash")

// hasher hashes and checks passwords with argon2id, at most a fixed number
// at a time: each hash holds Memory KiB and a core, so a burst of logins
// cannot take the process's memory. Requests for a hash wait in a fair,
// bounded queue (hashQueue); one that gets no slot in time is refused
// with ErrBusy.
type hasher struct {
	p Argon2
	q *hashQueue
	// dummy is a hash checked when a username does not exist, so that an
	// unknown name takes as long as a wrong password.
	dummy string
}

func newHasher(p Argon2, lim hashLimits) *hasher {
	h := &hasher{p: p.withDefaults(), q: newHashQueue(lim)}
	h.dummy = h.encode(make([]byte, h.p.SaltLen), "not a password")
	return h
}

// acquire waits for a hash slot; ErrBusy when none comes in time.
func (h *hasher) acquire(ctx context.Context, class hashClass, addr string) error {
	why, err := h.q.acquire(ctx, class, addr)
	if err != nil {
		return err
	}
	if why != notBusy {
		return errBusy
	}
	return nil
}

// Hash returns the PHC string of password:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>. It waits for a slot of
// class for client address addr, and returns ErrBusy when none comes in
// time.
func (h *hasher) Hash(ctx context.Context, class hashClass, addr, password string) (string, error) {
	if err := h.acquire(ctx, class, addr); err != nil {
		return "", err
	}
	defer h.q.release(class)
	return h.hashHeld(password)
}

// hashHeld returns the PHC string of password; the caller holds a slot.
func (h *hasher) hashHeld(password string) (string, error) {
	salt := make([]byte, h.p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	return h.encode(salt, password), nil
}

func (h *hasher) encode(salt []byte, password string) string {
	p := h.p
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// Check reports whether password matches the PHC string encoded, and
// whether encoded was made with other parameters than the current ones
// (the caller then stores a new hash). An empty encoded checks against a
// dummy hash and reports false, taking as long as a real check. It waits
// for a login slot for client address addr, and returns ErrBusy when none
// comes in time.
func (h *hasher) Check(ctx context.Context, addr, password, encoded string) (ok, stale bool, err error) {
	known := encoded != ""
	if !known {
		encoded = h.dummy
	}
	p, salt, key, err := decodeHash(encoded)
	if err != nil {
		return false, false, err
	}
	if err := h.acquire(ctx, hashLogin, addr); err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	h.q.release(hashLogin)
	ok = subtle.ConstantTimeCompare(got, key) == 1 && known
	stale = p.Memory != h.p.Memory || p.Time != h.p.Time || p.Threads != h.p.Threads ||
		uint32(len(salt)) != h.p.SaltLen || uint32(len(key)) != h.p.KeyLen
	return ok, stale, nil
}

// decodeHash parses a PHC argon2id string.
func decodeHash(s string) (p Argon2, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errHashFormat
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, errHashFormat
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, errHashFormat
	}
	if salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil {
		return p, nil, nil, errHashFormat
	}
	if key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(key) == 0 {
		return p, nil, nil, errHashFormat
	}
	if p.Memory == 0 || p.Time == 0 || p.Threads == 0 {
		return p, nil, nil, errHashFormat
	}
	return p, salt, key, nil
}
