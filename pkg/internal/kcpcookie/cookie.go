package kcpcookie

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"hash"
	"net/netip"
	"sync"
	"time"
)

// Packet types: the first byte of every datagram a client sends.
const (
	typeHello  = 0xA1
	typeCookie = 0xA2
	typeData   = 0xA3
)

// Sizes of the packets, in bytes.
const (
	// HelloSize is the smallest HELLO the Guard answers. It is larger than
	// CookieSize, so the answer is always smaller than the request.
	HelloSize = 64
	// CookieSize is the size of a COOKIE.
	CookieSize = 33
	// Overhead is the prefix a client adds to each of its KCP datagrams.
	Overhead = 1 + tagSize

	version  = 1
	macSize  = 8
	tagSize  = 4 + macSize // ts and MAC: what a DATA prefix carries
	headSize = 1 + len(magic) + 1
	// kcpHeader is KCP's segment header: a shorter datagram is no KCP.
	kcpHeader = 24
)

// magic follows the type byte of a HELLO and a COOKIE.
const magic = "iogokcp"

// Timing of the keys and cookies.
const (
	// KeyPeriod is how long one MAC key is used to issue cookies; a
	// cookie is checked with the key of its timestamp's period, which
	// must be the current or the previous one.
	KeyPeriod = time.Minute
	// MaxAge is how old a cookie may be when it admits a new (address,
	// conversation) pair. It is at most KeyPeriod, so the key of any
	// cookie young enough is still known.
	MaxAge = time.Minute
)

// tag is a cookie as a DATA prefix carries it: ts(4) and MAC(8).
type tag [tagSize]byte

func (t *tag) ts() uint32 { return binary.BigEndian.Uint32(t[:4]) }

// keyRing holds the MAC keys of the current and the previous period. A key
// is drawn at random when its period is first used; older ones are gone.
type keyRing struct {
	mu   sync.Mutex
	keys [2]periodKey // [0] the newest period seen, [1] the one before
	in   [16 + 2 + 4 + 4]byte
	sum  [sha256.Size]byte
}

type periodKey struct {
	period int64
	mac    hash.Hash // HMAC-SHA256 with the period's key; nil if unset
}

// rotate makes the key of the period of now current. Called with mu held.
func (r *keyRing) rotate(now int64) {
	p := now / int64(KeyPeriod/time.Second)
	if r.keys[0].mac != nil && r.keys[0].period >= p {
		return
	}
	if r.keys[0].mac != nil && r.keys[0].period == p-1 {
		r.keys[1] = r.keys[0]
	} else {
		r.keys[1] = periodKey{}
	}
	var k [32]byte
	_, _ = rand.Read(k[:]) // never fails (crypto/rand, Go 1.24+)
	r.keys[0] = periodKey{period: p, mac: hmac.New(sha256.New, k[:])}
}

// sign computes the MAC of (addr, conv, ts) into dst, with the key of ts's
// period, which must be known (reported by ok). now is the current Unix
// time, for key rotation.
func (r *keyRing) sign(dst *[macSize]byte, addr netip.AddrPort, conv, ts uint32, now int64) (ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rotate(now)
	p := int64(ts) / int64(KeyPeriod/time.Second)
	var h hash.Hash
	for i := range r.keys {
		if r.keys[i].mac != nil && r.keys[i].period == p {
			h = r.keys[i].mac
		}
	}
	if h == nil {
		return false
	}
	a := addr.Addr().As16()
	copy(r.in[:16], a[:])
	binary.BigEndian.PutUint16(r.in[16:], addr.Port())
	binary.BigEndian.PutUint32(r.in[18:], conv)
	binary.BigEndian.PutUint32(r.in[22:], ts)
	h.Reset()
	h.Write(r.in[:])
	copy(dst[:], h.Sum(r.sum[:0]))
	return true
}

// issue returns a fresh cookie for (addr, conv) at Unix time now.
func (r *keyRing) issue(addr netip.AddrPort, conv uint32, now int64) tag {
	var t tag
	ts := uint32(now)
	binary.BigEndian.PutUint32(t[:4], ts)
	var mac [macSize]byte
	r.sign(&mac, addr, conv, ts, now) // the current period's key always exists
	copy(t[4:], mac[:])
	return t
}

// check reports whether t is a cookie the ring issued for (addr, conv) at
// most MaxAge before now.
func (r *keyRing) check(t *tag, addr netip.AddrPort, conv uint32, now int64) bool {
	age := now - int64(t.ts())
	if age < 0 || age > int64(MaxAge/time.Second) {
		return false
	}
	var mac [macSize]byte
	if !r.sign(&mac, addr, conv, t.ts(), now) {
		return false
	}
	return subtle.ConstantTimeCompare(mac[:], t[4:]) == 1
}

// appendHello appends a HELLO for conv and nonce, padded to HelloSize.
func appendHello(b []byte, conv uint32, nonce [8]byte) []byte {
	b = append(b, typeHello)
	b = append(b, magic...)
	b = append(b, version)
	b = binary.LittleEndian.AppendUint32(b, conv)
	b = append(b, nonce[:]...)
	for len(b) < HelloSize {
		b = append(b, 0)
	}
	return b
}

// parseHello returns the conv and nonce of a HELLO.
func parseHello(b []byte) (conv uint32, nonce [8]byte, ok bool) {
	if len(b) < HelloSize || b[0] != typeHello || string(b[1:1+len(magic)]) != magic || b[headSize-1] != version {
		return 0, nonce, false
	}
	conv = binary.LittleEndian.Uint32(b[headSize:])
	copy(nonce[:], b[headSize+4:])
	return conv, nonce, true
}

// appendCookie appends the COOKIE answering a HELLO.
func appendCookie(b []byte, conv uint32, nonce [8]byte, t tag) []byte {
	b = append(b, typeCookie)
	b = append(b, magic...)
	b = append(b, version)
	b = binary.LittleEndian.AppendUint32(b, conv)
	b = append(b, nonce[:]...)
	return append(b, t[:]...)
}

// parseCookie returns the conv, nonce and cookie of a COOKIE.
func parseCookie(b []byte) (conv uint32, nonce [8]byte, t tag, ok bool) {
	if len(b) != CookieSize || b[0] != typeCookie || string(b[1:1+len(magic)]) != magic || b[headSize-1] != version {
		return 0, nonce, t, false
	}
	conv = binary.LittleEndian.Uint32(b[headSize:])
	copy(nonce[:], b[headSize+4:])
	copy(t[:], b[headSize+12:])
	return conv, nonce, t, true
}

// unmap returns ap with an IPv4-mapped IPv6 address as plain IPv4, so that
// a dual-stack socket and an IPv4 one name a client alike.
func unmap(ap netip.AddrPort) netip.AddrPort {
	if ap.Addr().Is4In6() {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return ap
}
