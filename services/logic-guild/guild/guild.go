// Package guild is the bundled guild service (route cmd 3): players create
// guilds, join open ones at once or ask to join closed ones, run them with
// roles (superadmin, admin, member), chat, and find them by name prefix and
// filters.
//
// # Consistency
//
// Everything about one guild — its settings, members with their roles and
// join times, its ban list — is one record in the store (key guild.<id>),
// changed only by compare-and-set ([store.Update]). The member limit, the
// "last superadmin" rule and bans are checked inside that compare-and-set,
// so they hold across any number of instances of the service. On one
// instance, the changes of a guild also run one at a time on the keyed
// executor of the guild (logic.Server.ExecWait), so the instance's own
// writers never conflict with each other and a crowd joining one guild
// costs one store round trip per join instead of a storm of retries.
//
// Unique things are claimed with [store.KV.Create]: a guild's name (key
// name.<base64url of the lower-cased name>) and a user's single membership
// (key user.<id>). A claim that its guild does not confirm (a crash between
// two writes) is taken over once older than Config.ClaimGrace.
//
// # Search
//
// Each instance keeps an in-memory index of every guild's public fields,
// fed by a store watch of the records (index.go). Searches are answered
// from memory, in name order, without a store round trip; they may lag a
// write by the watch's delivery delay. Memory is about 200 bytes per guild.
//
// # Concurrency
//
// A Service is safe for concurrent use. Its index has one mutex, and its
// chat rate limiter another (ratelimit.go); neither is held while taking
// any other lock.
package guild

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/iogo-dev/iogo/pkg/errs"
)

// Service is the service name, and the queue group of its instances.
const Service = "guild"

// Cmd is the route cmd of the guild service.
const Cmd int32 = 3

// Routes of the guild service (subCmds of Cmd).
const (
	SubCreate      int32 = 0  // CreateGuild → Guild
	SubUpdate      int32 = 1  // UpdateGuild → Guild
	SubDisband     int32 = 2  // Empty → Empty
	SubJoin        int32 = 3  // GuildRef → JoinResult
	SubLeave       int32 = 4  // Empty → Empty
	SubRequests    int32 = 5  // Empty → JoinRequestList
	SubApprove     int32 = 6  // MemberRef → Member
	SubReject      int32 = 7  // MemberRef → Empty
	SubPromote     int32 = 8  // MemberRef → Member
	SubDemote      int32 = 9  // MemberRef → Member
	SubKick        int32 = 10 // MemberRef → Empty
	SubBan         int32 = 11 // MemberRef → Empty
	SubUnban       int32 = 12 // MemberRef → Empty
	SubGet         int32 = 13 // GuildRef → Guild
	SubMine        int32 = 14 // Empty → Guild
	SubSearch      int32 = 15 // SearchGuilds → GuildPage
	SubMembers     int32 = 16 // GuildRef → MemberList
	SubSetMemberMD int32 = 17 // SetMemberMetadata → Member
	SubBans        int32 = 18 // Empty → []int64
	SubChat        int32 = 19 // ChatSend → ChatMessage
	SubHistory     int32 = 20 // Empty → ChatHistory

	// SubChatPush is the push route of chat lines (ChatMessage).
	SubChatPush int32 = 30
	// SubEventPush is the push route of membership changes (GuildEvent).
	SubEventPush int32 = 31
)

// Topic is the event-bus topic of membership changes (payload
// guildpb.GuildEvent, one event per affected user).
const Topic = "guild.member"

// Errors of the guild service; codes 1200-1299.
var (
	ErrGuildNotFound   = errs.New(1200, "guild: no such guild")
	ErrNameTaken       = errs.New(1201, "guild: name taken")
	ErrGuildFull       = errs.New(1202, "guild: guild full")
	ErrAlreadyInGuild  = errs.New(1203, "guild: already in a guild")
	ErrNotInGuild      = errs.New(1204, "guild: not in a guild")
	ErrNotMember       = errs.New(1205, "guild: user is not a member")
	ErrPermission      = errs.New(1206, "guild: not allowed")
	ErrLastSuperadmin  = errs.New(1207, "guild: the last superadmin cannot leave, be removed or demoted; promote another member first, or disband")
	ErrBanned          = errs.New(1208, "guild: banned from this guild")
	ErrRequestPending  = errs.New(1209, "guild: join request already pending")
	ErrNoRequest       = errs.New(1210, "guild: no such join request")
	ErrTooManyRequests = errs.New(1211, "guild: too many pending join requests")
	ErrMaxBelowCount   = errs.New(1212, "guild: max members below the member count")
	ErrBanListFull     = errs.New(1213, "guild: ban list full")
	// ErrChatRateLimited answers a chat line over the sender's rate limit
	// (Config.ChatRate, ChatBurst); the line is neither kept nor pushed.
	// The message ends "retry after <duration>".
	ErrChatRateLimited = errs.New(1214, "guild: chatting too fast")
)

// declaredErrors names the errors for r.DeclareError.
var declaredErrors = []struct {
	name string
	err  *errs.Error
}{
	{"GuildNotFound", ErrGuildNotFound},
	{"NameTaken", ErrNameTaken},
	{"GuildFull", ErrGuildFull},
	{"AlreadyInGuild", ErrAlreadyInGuild},
	{"NotInGuild", ErrNotInGuild},
	{"NotMember", ErrNotMember},
	{"Permission", ErrPermission},
	{"LastSuperadmin", ErrLastSuperadmin},
	{"Banned", ErrBanned},
	{"RequestPending", ErrRequestPending},
	{"NoRequest", ErrNoRequest},
	{"TooManyRequests", ErrTooManyRequests},
	{"MaxBelowCount", ErrMaxBelowCount},
	{"BanListFull", ErrBanListFull},
	{"ChatRateLimited", ErrChatRateLimited},
}

// Limits on input, in bytes unless said otherwise.
const (
	MinNameRunes   = 3
	MaxNameRunes   = 32
	MaxDescription = 256
	MaxLanguage    = 16
	MaxMetadata    = 2048
	MaxMemberMD    = 512
	MaxChat        = 512
	MaxSearchLimit = 100
	// DefaultSearchLimit is the page size of a search that names none.
	DefaultSearchLimit = 20
)

// Defaults of Config.
const (
	DefaultMaxMembers      = 50
	DefaultMaxMembersLimit = 500
	DefaultMaxRequests     = 100
	DefaultMaxBans         = 1000
	DefaultChatHistory     = 50
	DefaultChatRate        = 1.0
	DefaultChatBurst       = 5
	DefaultClaimGrace      = 30 * time.Second
	DefaultBucket          = "guild"
)

// Config configures the guild service. The zero value is the defaults.
type Config struct {
	// DefaultMaxMembers is the member limit of a guild created without
	// one; default DefaultMaxMembers.
	DefaultMaxMembers int
	// MaxMembersLimit bounds the member limit a guild may choose; default
	// DefaultMaxMembersLimit. The whole member list is one store record,
	// about 40 bytes per member.
	MaxMembersLimit int
	// MaxRequests bounds the pending join requests of one guild; default
	// DefaultMaxRequests.
	MaxRequests int
	// MaxBans bounds the ban list of one guild; default DefaultMaxBans.
	MaxBans int
	// ChatHistory is how many recent chat lines a guild keeps (one store
	// write per line); default DefaultChatHistory, negative keeps none.
	ChatHistory int
	// ChatRate is how many chat lines per second one user may send, on
	// average, to one instance of the service; default DefaultChatRate,
	// negative: no limit. Unbound requests are spread over the instances
	// by the queue group, so with N instances a user gets up to N times
	// ChatRate and ChatBurst (see docs/modules/guild.md).
	ChatRate float64
	// ChatBurst is how many chat lines one user may send at once before
	// ChatRate applies; default DefaultChatBurst.
	ChatBurst int
	// ClaimGrace is how old a claim (name, membership) its guild does not
	// confirm must be before another writer takes it over; default
	// DefaultClaimGrace.
	ClaimGrace time.Duration
	// Bucket is the store bucket; default DefaultBucket.
	Bucket string
	// Logger receives the service's warnings; nil means the logic
	// server's logger (a nil one given to NewGuilds discards them).
	Logger *slog.Logger
	// Now returns the current time (tests); default time.Now.
	Now func() time.Time
}

// RegisterFlags adds the service's flags to fs, bound to c's fields; set
// the defaults in c first (the zero value shows the package defaults).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.fill()
	fs.IntVar(&c.DefaultMaxMembers, "default-max-members", c.DefaultMaxMembers, "member limit of a guild created without one")
	fs.IntVar(&c.MaxMembersLimit, "max-members-limit", c.MaxMembersLimit, "highest member limit a guild may choose")
	fs.IntVar(&c.MaxRequests, "max-join-requests", c.MaxRequests, "pending join requests allowed per guild")
	fs.IntVar(&c.MaxBans, "max-bans", c.MaxBans, "banned users allowed per guild")
	fs.IntVar(&c.ChatHistory, "chat-history", c.ChatHistory, "recent chat lines kept per guild (one store write per line); negative keeps none")
	fs.Float64Var(&c.ChatRate, "chat-rate", c.ChatRate, "chat lines per second one user may send to one instance, on average (negative: no limit)")
	fs.IntVar(&c.ChatBurst, "chat-burst", c.ChatBurst, "chat lines one user may send at once before -chat-rate applies")
	fs.DurationVar(&c.ClaimGrace, "claim-grace", c.ClaimGrace, "age after which an unconfirmed name or membership claim is taken over")
	fs.StringVar(&c.Bucket, "bucket", c.Bucket, "store bucket of the guild data")
}

// fill sets the defaults of zero fields.
func (c *Config) fill() {
	if c.DefaultMaxMembers == 0 {
		c.DefaultMaxMembers = DefaultMaxMembers
	}
	if c.MaxMembersLimit == 0 {
		c.MaxMembersLimit = DefaultMaxMembersLimit
	}
	if c.MaxRequests == 0 {
		c.MaxRequests = DefaultMaxRequests
	}
	if c.MaxBans == 0 {
		c.MaxBans = DefaultMaxBans
	}
	if c.ChatHistory == 0 {
		c.ChatHistory = DefaultChatHistory
	}
	if c.ChatRate == 0 {
		c.ChatRate = DefaultChatRate
	}
	if c.ChatBurst == 0 {
		c.ChatBurst = DefaultChatBurst
	}
	if c.ClaimGrace == 0 {
		c.ClaimGrace = DefaultClaimGrace
	}
	if c.Bucket == "" {
		c.Bucket = DefaultBucket
	}
}

// Validate fills in defaults and reports an invalid field.
func (c *Config) Validate() error {
	c.fill()
	var errList []error
	if c.MaxMembersLimit < 1 || c.MaxMembersLimit > 10000 {
		errList = append(errList, fmt.Errorf("guild: max members limit %d not in 1..10000", c.MaxMembersLimit))
	}
	if c.DefaultMaxMembers < 1 || c.DefaultMaxMembers > c.MaxMembersLimit {
		errList = append(errList, fmt.Errorf("guild: default max members %d not in 1..%d", c.DefaultMaxMembers, c.MaxMembersLimit))
	}
	if c.MaxRequests < 1 {
		errList = append(errList, fmt.Errorf("guild: max join requests %d must be positive", c.MaxRequests))
	}
	if c.MaxBans < 1 {
		errList = append(errList, fmt.Errorf("guild: max bans %d must be positive", c.MaxBans))
	}
	if c.ChatBurst < 1 && c.ChatRate >= 0 { // no burst matters without a limit
		errList = append(errList, fmt.Errorf("guild: chat burst %d must be positive (a negative chat rate turns the limit off)", c.ChatBurst))
	}
	if c.ClaimGrace < 0 {
		errList = append(errList, fmt.Errorf("guild: claim grace %v is negative", c.ClaimGrace))
	}
	return errors.Join(errList...)
}
