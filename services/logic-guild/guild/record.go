package guild

import (
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/iogo-dev/iogo/pkg/errs"
	guildpb "github.com/iogo-dev/iogo/proto/guild"
	"google.golang.org/protobuf/proto"
)

// Store keys. Tokens are separated by '.'; see package store.
const (
	prefixGuild   = "guild." // guild.<id> → GuildRecord
	prefixName    = "name."  // name.<b64 name> → Claim
	prefixUser    = "user."  // user.<id> → Claim
	prefixRequest = "req."   // req.<guild>.<user> → JoinRequest
	prefixChat    = "chat."  // chat.<guild> → ChatHistory
)

func guildKey(id int64) string { return prefixGuild + strconv.FormatInt(id, 10) }
func userKey(id int64) string  { return prefixUser + strconv.FormatInt(id, 10) }
func chatKey(id int64) string  { return prefixChat + strconv.FormatInt(id, 10) }

// nameKey is the claim key of a normalized name: base64url fits any name
// into the key alphabet.
func nameKey(norm string) string {
	return prefixName + base64.RawURLEncoding.EncodeToString([]byte(norm))
}

func requestPrefix(gid int64) string { return prefixRequest + strconv.FormatInt(gid, 10) + "." }
func requestKey(gid, uid int64) string {
	return requestPrefix(gid) + strconv.FormatInt(uid, 10)
}

// cleanName trims s and collapses inner runs of spaces to one; it returns
// the display name and its normalized (lower-case) form, or a validation
// error.
func cleanName(s string) (display, norm string, err error) {
	display = strings.Join(strings.Fields(s), " ")
	n := utf8.RuneCountInString(display)
	if !utf8.ValidString(display) || n < MinNameRunes || n > MaxNameRunes {
		return "", "", errs.ErrValidation.WithMsg("guild: name must be 3..32 characters")
	}
	for _, r := range display {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune(" -_.", r) {
			return "", "", errs.ErrValidation.WithMsg("guild: name may have letters, digits, spaces, '-', '_' and '.'")
		}
	}
	return display, normalize(display), nil
}

// normalize is the case-insensitive form of a name or prefix: lower case,
// spaces collapsed. Untrimmed at the end, so that "ab " stays a prefix of
// "ab c".
func normalize(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

func decodeRecord(b []byte) (*guildpb.GuildRecord, error) {
	rec := new(guildpb.GuildRecord)
	if err := proto.Unmarshal(b, rec); err != nil {
		return nil, err
	}
	if rec.Guild == nil {
		rec.Guild = new(guildpb.Guild)
	}
	return rec, nil
}

func decodeClaim(b []byte) (*guildpb.Claim, error) {
	c := new(guildpb.Claim)
	return c, proto.Unmarshal(b, c)
}

func encode(m proto.Message) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		// Only a message with invalid UTF-8 fails, and every string is
		// checked on input.
		panic("guild: encode: " + err.Error())
	}
	return b
}

// member returns the member userID of rec and its index, or nil, -1.
func member(rec *guildpb.GuildRecord, uid int64) (*guildpb.Member, int) {
	for i, m := range rec.Members {
		if m.UserId == uid {
			return m, i
		}
	}
	return nil, -1
}

// role returns uid's role in rec, ROLE_UNSPECIFIED for a non-member.
func role(rec *guildpb.GuildRecord, uid int64) guildpb.Role {
	if m, _ := member(rec, uid); m != nil {
		return m.Role
	}
	return guildpb.Role_ROLE_UNSPECIFIED
}

// superadmins counts the superadmins of rec.
func superadmins(rec *guildpb.GuildRecord) int {
	n := 0
	for _, m := range rec.Members {
		if m.Role == guildpb.Role_ROLE_SUPERADMIN {
			n++
		}
	}
	return n
}

func removeMember(rec *guildpb.GuildRecord, i int) {
	rec.Members = slices.Delete(rec.Members, i, i+1)
	rec.Guild.MemberCount = int32(len(rec.Members))
}

func isBanned(rec *guildpb.GuildRecord, uid int64) bool { return slices.Contains(rec.Banned, uid) }

// public returns the public view of rec's guild.
func public(rec *guildpb.GuildRecord) *guildpb.Guild {
	g := proto.CloneOf(rec.Guild)
	g.MemberCount = int32(len(rec.Members))
	return g
}

// memberIDs lists the user IDs of rec's members.
func memberIDs(rec *guildpb.GuildRecord) []int64 {
	ids := make([]int64, len(rec.Members))
	for i, m := range rec.Members {
		ids[i] = m.UserId
	}
	return ids
}

// sortedMembers returns rec's members, superadmins first, then admins, then
// members, each by join time.
func sortedMembers(rec *guildpb.GuildRecord) []*guildpb.Member {
	ms := slices.Clone(rec.Members)
	slices.SortStableFunc(ms, func(a, b *guildpb.Member) int {
		if a.Role != b.Role {
			return int(b.Role - a.Role)
		}
		if a.JoinedAtMs != b.JoinedAtMs {
			if a.JoinedAtMs < b.JoinedAtMs {
				return -1
			}
			return 1
		}
		return 0
	})
	return ms
}

// validText checks a free-text field's length and encoding.
func validText(s string, limit int, field string) error {
	if len(s) > limit || !utf8.ValidString(s) {
		return errs.ErrValidation.WithMsg("guild: " + field + " must be valid UTF-8 of at most " + strconv.Itoa(limit) + " bytes")
	}
	return nil
}
