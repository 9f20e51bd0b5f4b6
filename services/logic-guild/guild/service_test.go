package guild

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/store"
	guildpb "github.com/iogo-dev/iogo/proto/guild"
	"google.golang.org/protobuf/proto"
)

func TestCreate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ *broker.Broker, st store.Opener) {
		g, _ := newGuilds(t, st, Config{})
		ctx := ctxT(t)
		must(g.Create(ctx, 1, &guildpb.CreateGuild{Name: "  Red   Dragons ", Open: true, Language: "en"}))(t)
		tests := []struct {
			name    string
			user    int64
			req     *guildpb.CreateGuild
			wantErr error
		}{
			{"ok", 2, &guildpb.CreateGuild{Name: "Blue Wolves"}, nil},
			{"same name other case", 3, &guildpb.CreateGuild{Name: "red dragons"}, ErrNameTaken},
			{"same name other spacing", 3, &guildpb.CreateGuild{Name: "RED DRAGONS"}, ErrNameTaken},
			{"already in a guild", 1, &guildpb.CreateGuild{Name: "Another"}, ErrAlreadyInGuild},
			{"short name", 3, &guildpb.CreateGuild{Name: "ab"}, errs.ErrValidation},
			{"long name", 3, &guildpb.CreateGuild{Name: strings.Repeat("x", 33)}, errs.ErrValidation},
			{"bad character", 3, &guildpb.CreateGuild{Name: "a/b/c"}, errs.ErrValidation},
			{"max members over limit", 3, &guildpb.CreateGuild{Name: "Big", MaxMembers: 501}, errs.ErrValidation},
			{"long description", 3, &guildpb.CreateGuild{Name: "Talk", Description: strings.Repeat("x", 257)}, errs.ErrValidation},
			{"no user", 0, &guildpb.CreateGuild{Name: "Nobody"}, errs.ErrLoginRequired},
			{"unicode name", 4, &guildpb.CreateGuild{Name: "Ünïcødé Ørder"}, nil},
			{"unicode case clash", 5, &guildpb.CreateGuild{Name: "ÜNÏCØDÉ ØRDER"}, ErrNameTaken},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := g.Create(ctx, tt.user, tt.req)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if err != nil {
					return
				}
				if got.MemberCount != 1 || got.MaxMembers != DefaultMaxMembers || got.Id <= 0 || got.Id >= 1<<53 {
					t.Fatalf("guild %v", got)
				}
				ms := must(g.Members(ctx, got.Id))(t)
				if len(ms.Members) != 1 || ms.Members[0].UserId != tt.user || ms.Members[0].Role != guildpb.Role_ROLE_SUPERADMIN {
					t.Fatalf("members %v", ms)
				}
			})
		}
		mine := must(g.Mine(ctx, 1))(t)
		if mine.Name != "Red Dragons" || !mine.Open || mine.Language != "en" {
			t.Fatalf("display name not cleaned or settings lost: %v", mine)
		}
	})
}

// setup creates a guild of superadmin 1 with members 2..n (open guild).
func setup(t *testing.T, g *Guilds, open bool, n int64) int64 {
	t.Helper()
	ctx := ctxT(t)
	gd := must(g.Create(ctx, 1, &guildpb.CreateGuild{Name: "Guild of One", Open: true}))(t)
	for u := int64(2); u <= n; u++ {
		must(g.Join(ctx, u, gd.Id))(t)
	}
	if !open {
		must(g.Update(ctx, 1, &guildpb.UpdateGuild{Open: proto.Bool(false)}))(t)
	}
	return gd.Id
}

func TestJoinLeave(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ *broker.Broker, st store.Opener) {
		g, rec := newGuilds(t, st, Config{})
		ctx := ctxT(t)
		gid := setup(t, g, true, 2)
		other := must(g.Create(ctx, 10, &guildpb.CreateGuild{Name: "Other", Open: true}))(t)

		if _, err := g.Join(ctx, 2, gid); !errors.Is(err, ErrAlreadyInGuild) {
			t.Fatalf("join twice: %v", err)
		}
		if _, err := g.Join(ctx, 2, other.Id); !errors.Is(err, ErrAlreadyInGuild) {
			t.Fatalf("join a second guild: %v", err)
		}
		if _, err := g.Join(ctx, 3, 12345); !errors.Is(err, ErrGuildNotFound) {
			t.Fatalf("join a missing guild: %v", err)
		}
		if err := g.Leave(ctx, 1); !errors.Is(err, ErrLastSuperadmin) {
			t.Fatalf("last superadmin leaves: %v", err)
		}
		if err := g.Leave(ctx, 2); err != nil {
			t.Fatal(err)
		}
		if err := g.Leave(ctx, 2); !errors.Is(err, ErrNotInGuild) {
			t.Fatalf("leave twice: %v", err)
		}
		// Free again: may join another guild.
		res := must(g.Join(ctx, 2, other.Id))(t)
		if !res.Joined || res.Guild.MemberCount != 2 {
			t.Fatalf("join other: %v", res)
		}
		want := []guildpb.GuildEventKind{guildpb.GuildEventKind_GUILD_EVENT_KIND_JOINED, guildpb.GuildEventKind_GUILD_EVENT_KIND_LEFT, guildpb.GuildEventKind_GUILD_EVENT_KIND_JOINED}
		if got := rec.kinds(2); !slices.Equal(got, want) {
			t.Fatalf("events of user 2: %v, want %v", got, want)
		}
	})
}

func TestJoinRequests(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ *broker.Broker, st store.Opener) {
		g, rec := newGuilds(t, st, Config{})
		ctx := ctxT(t)
		gid := setup(t, g, false, 2) // 1 superadmin, 2 member, closed
		res := must(g.Join(ctx, 5, gid))(t)
		if res.Joined {
			t.Fatal("joined a closed guild at once")
		}
		if _, err := g.Join(ctx, 5, gid); !errors.Is(err, ErrRequestPending) {
			t.Fatalf("second request: %v", err)
		}
		must(g.Join(ctx, 6, gid))(t)
		if _, err := g.Requests(ctx, 2); !errors.Is(err, ErrPermission) {
			t.Fatalf("member lists requests: %v", err)
		}
		if _, err := g.Approve(ctx, 2, 5); !errors.Is(err, ErrPermission) {
			t.Fatalf("member approves: %v", err)
		}
		reqs := must(g.Requests(ctx, 1))(t)
		if len(reqs.Requests) != 2 || reqs.Requests[0].UserId != 5 || reqs.Requests[1].UserId != 6 {
			t.Fatalf("requests %v", reqs)
		}
		m := must(g.Approve(ctx, 1, 5))(t)
		if m.UserId != 5 || m.Role != guildpb.Role_ROLE_MEMBER || m.JoinedAtMs == 0 {
			t.Fatalf("approved member %v", m)
		}
		if err := g.Reject(ctx, 1, 6); err != nil {
			t.Fatal(err)
		}
		if err := g.Reject(ctx, 1, 6); !errors.Is(err, ErrNoRequest) {
			t.Fatalf("reject twice: %v", err)
		}
		if _, err := g.Approve(ctx, 1, 7); !errors.Is(err, ErrNoRequest) {
			t.Fatalf("approve without request: %v", err)
		}
		if reqs := must(g.Requests(ctx, 1))(t); len(reqs.Requests) != 0 {
			t.Fatalf("requests left: %v", reqs)
		}
		if got := must(g.Mine(ctx, 5))(t); got.Id != gid || got.MemberCount != 3 {
			t.Fatalf("mine %v", got)
		}
		if got := rec.kinds(6); !slices.Equal(got, []guildpb.GuildEventKind{guildpb.GuildEventKind_GUILD_EVENT_KIND_REQUESTED, guildpb.GuildEventKind_GUILD_EVENT_KIND_REJECTED}) {
			t.Fatalf("events of 6: %v", got)
		}
		// A requester who joined another guild meanwhile cannot be approved.
		must(g.Join(ctx, 8, gid))(t)
		must(g.Create(ctx, 8+100, &guildpb.CreateGuild{Name: "Elsewhere", Open: true}))(t)
		gOther := must(g.Mine(ctx, 108))(t)
		must(g.Join(ctx, 8, gOther.Id))(t)
		if _, err := g.Approve(ctx, 1, 8); !errors.Is(err, ErrAlreadyInGuild) {
			t.Fatalf("approve a member of another guild: %v", err)
		}
		// A full closed guild keeps the request for later.
		must(g.Update(ctx, 1, &guildpb.UpdateGuild{MaxMembers: proto.Int32(3)}))(t)
		must(g.Join(ctx, 9, gid))(t)
		if _, err := g.Approve(ctx, 1, 9); !errors.Is(err, ErrGuildFull) {
			t.Fatalf("approve into a full guild: %v", err)
		}
		if reqs := must(g.Requests(ctx, 1))(t); len(reqs.Requests) != 1 {
			t.Fatalf("request dropped: %v", reqs)
		}
	})
}

func TestTooManyRequests(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ *broker.Broker, st store.Opener) {
		g, _ := newGuilds(t, st, Config{MaxRequests: 2})
		ctx := ctxT(t)
		gid := setup(t, g, false, 1)
		must(g.Join(ctx, 2, gid))(t)
		must(g.Join(ctx, 3, gid))(t)
		if _, err := g.Join(ctx, 4, gid); !errors.Is(err, ErrTooManyRequests) {
			t.Fatalf("third request: %v", err)
		}
	})
}

func TestRoles(t *testing.T) {
	const (
		super  = guildpb.Role_ROLE_SUPERADMIN
		admin  = guildpb.Role_ROLE_ADMIN
		member = guildpb.Role_ROLE_MEMBER
	)
	// Users: 1 superadmin, 2 superadmin, 3 admin, 4 admin, 5 member, 6 member; 9 outsider.
	tests := []struct {
		name          string
		op            string
		actor, target int64
		wantErr       error
		wantRole      guildpb.Role // after a promote or demote
	}{
		{"admin promotes member", "promote", 3, 5, nil, admin},
		{"admin cannot promote admin", "promote", 3, 4, ErrPermission, 0},
		{"admin cannot promote self", "promote", 3, 3, ErrPermission, 0},
		{"member cannot promote", "promote", 5, 6, ErrPermission, 0},
		{"super promotes admin", "promote", 1, 3, nil, super},
		{"super promotes member", "promote", 1, 5, nil, admin},
		{"no role above super", "promote", 1, 2, ErrPermission, 0},
		{"promote outsider", "promote", 1, 9, ErrNotMember, 0},
		{"outsider promotes", "promote", 9, 5, ErrNotInGuild, 0},
		{"admin cannot demote", "demote", 3, 4, ErrPermission, 0},
		{"super demotes admin", "demote", 1, 3, nil, member},
		{"super demotes super", "demote", 1, 2, nil, admin},
		{"super demotes self", "demote", 2, 2, nil, admin},
		{"member has no lower role", "demote", 1, 5, ErrPermission, 0},
		{"admin kicks member", "kick", 3, 5, nil, 0},
		{"admin cannot kick admin", "kick", 3, 4, ErrPermission, 0},
		{"admin cannot kick super", "kick", 3, 1, ErrPermission, 0},
		{"member cannot kick", "kick", 5, 6, ErrPermission, 0},
		{"super kicks admin", "kick", 1, 3, nil, 0},
		{"super kicks super", "kick", 1, 2, nil, 0},
		{"kick self", "kick", 1, 1, ErrPermission, 0},
		{"kick outsider", "kick", 1, 9, ErrNotMember, 0},
		{"admin bans member", "ban", 3, 5, nil, 0},
		{"admin cannot ban admin", "ban", 4, 3, ErrPermission, 0},
		{"admin bans outsider", "ban", 3, 9, nil, 0},
		{"member cannot ban", "ban", 5, 9, ErrPermission, 0},
		{"super bans super", "ban", 2, 1, nil, 0},
	}
	forEachBackend(t, func(t *testing.T, _ *broker.Broker, st store.Opener) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				g, _ := newGuilds(t, st, Config{Bucket: "roles" + strings.NewReplacer(" ", "_").Replace(tt.name)})
				ctx := ctxT(t)
				gid := setup(t, g, true, 6)
				must(g.Promote(ctx, 1, 2))(t)
				must(g.Promote(ctx, 1, 2))(t)
				must(g.Promote(ctx, 1, 3))(t)
				must(g.Promote(ctx, 1, 4))(t)
				var err error
				var m *guildpb.Member
				switch tt.op {
				case "promote":
					m, err = g.Promote(ctx, tt.actor, tt.target)
				case "demote":
					m, err = g.Demote(ctx, tt.actor, tt.target)
				case "kick":
					err = g.Kick(ctx, tt.actor, tt.target)
				case "ban":
					err = g.Ban(ctx, tt.actor, tt.target)
				}
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				ms := must(g.Members(ctx, gid))(t)
				mm := map[int64]guildpb.Role{}
				for _, x := range ms.Members {
					mm[x.UserId] = x.Role
				}
				if err != nil {
					if len(ms.Members) != 6 {
						t.Fatalf("a failed %s changed the members: %v", tt.op, ms)
					}
					return
				}
				switch tt.op {
				case "promote", "demote":
					if m.Role != tt.wantRole || mm[tt.target] != tt.wantRole {
						t.Fatalf("role %v (stored %v), want %v", m.Role, mm[tt.target], tt.wantRole)
					}
				case "kick", "ban":
					if _, in := mm[tt.target]; in {
						t.Fatal("target still a member")
					}
					if _, err := g.Mine(ctx, tt.target); !errors.Is(err, ErrNotInGuild) {
						t.Fatalf("target's membership claim left: %v", err)
					}
					_, err := g.Join(ctx, tt.target, gid)
					if tt.op == "ban" && !errors.Is(err, ErrBanned) {
						t.Fatalf("banned user rejoins: %v", err)
					}
					if tt.op == "kick" && err != nil {
						t.Fatalf("kicked user cannot rejoin: %v", err)
					}
				}
			})
		}
	})
}

func TestLastSuperadmin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ *broker.Broker, st store.Opener) {
		g, _ := newGuilds(t, st, Config{})
		ctx := ctxT(t)
		gid := setup(t, g, true, 3)
		if _, err := g.Demote(ctx, 1, 1); !errors.Is(err, ErrLastSuperadmin) {
			t.Fatalf("demote the last superadmin: %v", err)
		}
		if err := g.Leave(ctx, 1); !errors.Is(err, ErrLastSuperadmin) {
			t.Fatalf("last superadmin leaves: %v", err)
		}
		// Hand over: promote 2 twice, then 1 may leave.
		must(g.Promote(ctx, 1, 2))(t)
		must(g.Promote(ctx, 1, 2))(t)
		if err := g.Leave(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := g.Demote(ctx, 2, 2); !errors.Is(err, ErrLastSuperadmin) {
			t.Fatalf("demote the new last superadmin: %v", err)
		}
		if err := g.Kick(ctx, 2, 2); !errors.Is(err, ErrPermission) {
			t.Fatalf("the last superadmin kicks itself: %v", err)
		}
		ms := must(g.Members(ctx, gid))(t)
		if len(ms.Members) != 2 || ms.Members[0].UserId != 2 || ms.Members[0].Role != guildpb.Role_ROLE_SUPERADMIN {
			t.Fatalf("members %v", ms)
		}
	})
}

func TestBanUnban(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ *broker.Broker, st store.Opener) {
		g, _ := newGuilds(t, st, Config{MaxBans: 2})
		ctx := ctxT(t)
		gid := setup(t, g, false, 2)
		must(g.Join(ctx, 7, gid))(t) // a pending request
		if err := g.Ban(ctx, 1, 7); err != nil {
			t.Fatal(err)
		}
		if reqs := must(g.Requests(ctx, 1))(t); len(reqs.Requests) != 0 {
			t.Fatalf("a banned user's request is left: %v", reqs)
		}
		if _, err := g.Join(ctx, 7, gid); !errors.Is(err, ErrBanned) {
			t.Fatalf("banned user asks to join: %v", err)
		}
		if err := g.Ban(ctx, 1, 2); err != nil {
			t.Fatal(err)
		}
		if err := g.Ban(ctx, 1, 8); !errors.Is(err, ErrBanListFull) {
			t.Fatalf("third ban: %v", err)
		}
		if got := must(g.Bans(ctx, 1))(t); !slices.Equal(got, []int64{7, 2}) {
			t.Fatalf("bans %v", got)
		}
		if err := g.Unban(ctx, 1, 7); err != nil {
			t.Fatal(err)
		}
		if res := must(g.Join(ctx, 7, gid))(t); res.Joined {
			t.Fatal("joined a closed guild at once")
		}
	})
}

func TestUpdate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ *broker.Broker, st store.Opener) {
		g, _ := newGuilds(t, st, Config{})
		ctx := ctxT(t)
		setup(t, g, true, 3)
		tests := []struct {
			name    string
			actor   int64
			req     *guildpb.UpdateGuild
			wantErr error
		}{
			{"member", 2, &guildpb.UpdateGuild{Description: proto.String("x")}, ErrPermission},
			{"below count", 1, &guildpb.UpdateGuild{MaxMembers: proto.Int32(2)}, ErrMaxBelowCount},
			{"zero max", 1, &guildpb.UpdateGuild{MaxMembers: proto.Int32(0)}, errs.ErrValidation},
			{"long metadata", 1, &guildpb.UpdateGuild{Metadata: proto.String(strings.Repeat("m", 2049))}, errs.ErrValidation},
			{"outsider", 50, &guildpb.UpdateGuild{}, ErrNotInGuild},
			{"all fields", 1, &guildpb.UpdateGuild{Description: proto.String("d"), Open: proto.Bool(false),
				Language: proto.String("fr"), MaxMembers: proto.Int32(3), Metadata: proto.String(`{"a":1}`)}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := g.Update(ctx, tt.actor, tt.req)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if err == nil && (got.Description != "d" || got.Open || got.Language != "fr" || got.MaxMembers != 3 || got.Metadata != `{"a":1}`) {
					t.Fatalf("guild %v", got)
				}
			})
		}
		m := must(g.SetMemberMetadata(ctx, 2, "hello"))(t)
		if m.Metadata != "hello" {
			t.Fatalf("member %v", m)
		}
		if _, err := g.SetMemberMetadata(ctx, 50, "x"); !errors.Is(err, ErrNotInGuild) {
			t.Fatalf("outsider metadata: %v", err)
		}
	})
}

func TestDisband(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ *broker.Broker, st store.Opener) {
		g, rec := newGuilds(t, st, Config{})
		ctx := ctxT(t)
		gid := setup(t, g, true, 3)
		must(g.Update(ctx, 1, &guildpb.UpdateGuild{Open: proto.Bool(false)}))(t)
		must(g.Join(ctx, 4, gid))(t)
		must(g.Chat(ctx, 2, "bye"))(t)
		must(g.Promote(ctx, 1, 2))(t)
		if err := g.Disband(ctx, 2); !errors.Is(err, ErrPermission) {
			t.Fatalf("admin disbands: %v", err)
		}
		if err := g.Disband(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := g.Get(ctx, gid); !errors.Is(err, ErrGuildNotFound) {
			t.Fatalf("get after disband: %v", err)
		}
		for u := int64(1); u <= 3; u++ {
			if _, err := g.Mine(ctx, u); !errors.Is(err, ErrNotInGuild) {
				t.Fatalf("user %d still in a guild: %v", u, err)
			}
			if got := rec.kinds(u); got[len(got)-1] != guildpb.GuildEventKind_GUILD_EVENT_KIND_DISBANDED {
				t.Fatalf("user %d events %v", u, got)
			}
		}
		// Everything is gone from the store, and the name is free again.
		keys := must(g.kv.Keys(ctx, ""))(t)
		if len(keys) != 0 {
			t.Fatalf("keys left: %v", keys)
		}
		must(g.Create(ctx, 3, &guildpb.CreateGuild{Name: "GUILD OF ONE"}))(t)
	})
}

func TestStaleClaims(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ *broker.Broker, st store.Opener) {
		g, _ := newGuilds(t, st, Config{ClaimGrace: time.Minute})
		ctx := ctxT(t)
		gid := setup(t, g, true, 1)
		// A crash left user 5's claim on a guild that does not exist, and a
		// name claim without a guild.
		stale := encode(&guildpb.Claim{GuildId: 777, AtMs: time.Now().Add(-2 * time.Minute).UnixMilli()})
		fresh := encode(&guildpb.Claim{GuildId: 778, AtMs: time.Now().UnixMilli()})
		must(g.kv.Put(ctx, userKey(5), stale))(t)
		must(g.kv.Put(ctx, userKey(6), fresh))(t)
		must(g.kv.Put(ctx, nameKey("lost"), stale))(t)
		must(g.kv.Put(ctx, nameKey("busy"), fresh))(t)
		if _, err := g.Join(ctx, 5, gid); err != nil {
			t.Fatalf("stale membership claim: %v", err)
		}
		if _, err := g.Join(ctx, 6, gid); !errors.Is(err, ErrAlreadyInGuild) {
			t.Fatalf("fresh membership claim: %v", err)
		}
		must(g.Create(ctx, 7, &guildpb.CreateGuild{Name: "Lost"}))(t)
		if _, err := g.Create(ctx, 8, &guildpb.CreateGuild{Name: "Busy"}); !errors.Is(err, ErrNameTaken) {
			t.Fatalf("fresh name claim: %v", err)
		}
		if _, err := g.Mine(ctx, 8); !errors.Is(err, ErrNotInGuild) {
			t.Fatalf("a failed create left a claim: %v", err)
		}
	})
}

func TestChat(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ *broker.Broker, st store.Opener) {
		g, rec := newGuilds(t, st, Config{ChatHistory: 3})
		ctx := ctxT(t)
		setup(t, g, true, 3)
		for _, tt := range []struct {
			name    string
			user    int64
			text    string
			wantErr error
		}{
			{"empty", 2, "", errs.ErrValidation},
			{"too long", 2, strings.Repeat("x", MaxChat+1), errs.ErrValidation},
			{"outsider", 9, "hi", ErrNotInGuild},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := g.Chat(ctx, tt.user, tt.text); !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			})
		}
		for i, text := range []string{"a", "b", "c", "d"} {
			m := must(g.Chat(ctx, int64(1+i%3), text))(t)
			if m.Text != text || m.SentAtMs == 0 {
				t.Fatalf("message %v", m)
			}
		}
		h := must(g.History(ctx, 3))(t)
		var texts []string
		for _, m := range h.Messages {
			texts = append(texts, m.Text)
		}
		if !slices.Equal(texts, []string{"b", "c", "d"}) {
			t.Fatalf("history %v", texts)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		var chats int
		for _, p := range rec.pushes {
			if p.sub == SubChatPush {
				chats++
				if !slices.Equal(p.to, []int64{1, 2, 3}) {
					t.Fatalf("chat pushed to %v", p.to)
				}
			}
		}
		if chats != 4 {
			t.Fatalf("%d chat pushes", chats)
		}
	})
}

func TestRequestOfAMember(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ *broker.Broker, st store.Opener) {
		g, _ := newGuilds(t, st, Config{})
		ctx := ctxT(t)
		gid := setup(t, g, false, 1)
		must(g.Join(ctx, 2, gid))(t) // a request
		must(g.Join(ctx, 3, gid))(t) // a request
		must(g.Update(ctx, 1, &guildpb.UpdateGuild{Open: proto.Bool(true)}))(t)
		if res := must(g.Join(ctx, 2, gid))(t); !res.Joined {
			t.Fatal("not joined the open guild")
		}
		reqs := must(g.Requests(ctx, 1))(t)
		if len(reqs.Requests) != 1 || reqs.Requests[0].UserId != 3 {
			t.Fatalf("requests %v", reqs)
		}
		if _, err := g.kv.Get(ctx, requestKey(gid, 2)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("moot request kept: %v", err)
		}
	})
}
