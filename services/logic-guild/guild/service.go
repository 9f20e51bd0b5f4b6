package guild

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/store"
	guildpb "github.com/iogo-dev/iogo/proto/guild"
	"google.golang.org/protobuf/proto"
)

// An Executor runs functions one at a time per key; *logic.Server is one.
type Executor interface {
	ExecWait(ctx context.Context, key string, fn func(context.Context)) error
}

// A Notifier pushes to players and publishes events; *logic.Client is one.
type Notifier interface {
	PushTo(ctx context.Context, userIDs []int64, cmd, sub int32, msg proto.Message) error
	Publish(ctx context.Context, topic string, msg proto.Message) error
}

// Guilds is the guild service's logic on a store bucket, apart from routes:
// the handlers call it, and tests and other Go code may too. Every method
// takes the acting user's ID.
type Guilds struct {
	cfg    Config
	kv     store.KV
	exec   Executor // nil: no per-instance serialization (CAS only)
	notify Notifier // nil: no pushes, no events
	log    *slog.Logger
	idx    *index
	chat   *chatLimiter // nil: no chat rate limit
	now    func() time.Time
}

// NewGuilds returns the guild logic on kv. exec serializes each guild's
// changes on this instance (nil: compare-and-set alone); notify sends
// pushes and events (nil: none). It does no I/O; call Watch to feed the
// search index.
func NewGuilds(cfg Config, kv store.KV, exec Executor, notify Notifier, log *slog.Logger) (*Guilds, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Guilds{cfg: cfg, kv: kv, exec: exec, notify: notify, log: log, idx: newIndex(),
		chat: newChatLimiter(cfg.ChatRate, cfg.ChatBurst), now: now}, nil
}

func (s *Guilds) nowMs() int64 { return s.now().UnixMilli() }

// guildID draws a new guild ID: positive and below 2^53.
func guildID() int64 { return rand.Int64N(1<<53-1) + 1 }

// serial runs fn on the executor of guild gid (when there is one) and
// returns its error.
func (s *Guilds) serial(ctx context.Context, gid int64, fn func(ctx context.Context) error) error {
	return s.serialKey(ctx, guildKey(gid), fn)
}

// mutate applies fn to guild gid's record by compare-and-set, on the
// guild's executor, and returns the record written. fn sees a fresh copy
// on each try; its error aborts. A missing or disbanded guild is
// ErrGuildNotFound.
func (s *Guilds) mutate(ctx context.Context, gid int64, fn func(rec *guildpb.GuildRecord) error) (*guildpb.GuildRecord, error) {
	var out *guildpb.GuildRecord
	err := s.serial(ctx, gid, func(ctx context.Context) error {
		_, err := store.Update(ctx, s.kv, guildKey(gid), func(cur []byte, exists bool) ([]byte, error) {
			if !exists {
				return nil, ErrGuildNotFound
			}
			rec, err := decodeRecord(cur)
			if err != nil {
				return nil, err
			}
			if rec.Disbanded {
				return nil, ErrGuildNotFound
			}
			if err := fn(rec); err != nil {
				return nil, err
			}
			rec.Guild.MemberCount = int32(len(rec.Members))
			out = rec
			return encode(rec), nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// record reads guild gid's record; a missing or disbanded guild is
// ErrGuildNotFound.
func (s *Guilds) record(ctx context.Context, gid int64) (*guildpb.GuildRecord, error) {
	e, err := s.kv.Get(ctx, guildKey(gid))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrGuildNotFound
	}
	if err != nil {
		return nil, err
	}
	rec, err := decodeRecord(e.Value)
	if err != nil {
		return nil, err
	}
	if rec.Disbanded {
		return nil, ErrGuildNotFound
	}
	return rec, nil
}

// myGuild returns the record of the guild uid is a member of.
func (s *Guilds) myGuild(ctx context.Context, uid int64) (*guildpb.GuildRecord, error) {
	e, err := s.kv.Get(ctx, userKey(uid))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotInGuild
	}
	if err != nil {
		return nil, err
	}
	c, err := decodeClaim(e.Value)
	if err != nil {
		return nil, err
	}
	rec, err := s.record(ctx, c.GuildId)
	if errors.Is(err, ErrGuildNotFound) {
		return nil, ErrNotInGuild
	}
	if err != nil {
		return nil, err
	}
	if m, _ := member(rec, uid); m == nil {
		return nil, ErrNotInGuild
	}
	return rec, nil
}

// claim takes key for guild gid with store Create. A claim held by another
// guild that confirmed(claim) denies and that is older than ClaimGrace is
// stale and taken over; otherwise claim returns taken.
func (s *Guilds) claim(ctx context.Context, key string, gid int64, confirmed func(ctx context.Context, c *guildpb.Claim) (bool, error), taken error) error {
	val := encode(&guildpb.Claim{GuildId: gid, AtMs: s.nowMs()})
	for {
		_, err := s.kv.Create(ctx, key, val)
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrExists) {
			return err
		}
		e, err := s.kv.Get(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			return err
		}
		c, err := decodeClaim(e.Value)
		if err != nil {
			return err
		}
		ok, err := confirmed(ctx, c)
		if err != nil {
			return err
		}
		if ok || s.nowMs()-c.AtMs < s.cfg.ClaimGrace.Milliseconds() {
			return taken
		}
		s.log.Info("taking over a stale claim", slog.String("key", key), slog.Int64("guild", c.GuildId))
		_, err = s.kv.Update(ctx, key, val, e.Revision)
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// claimUser claims uid's single membership for gid.
func (s *Guilds) claimUser(ctx context.Context, uid, gid int64) error {
	return s.claim(ctx, userKey(uid), gid, func(ctx context.Context, c *guildpb.Claim) (bool, error) {
		rec, err := s.record(ctx, c.GuildId)
		if errors.Is(err, ErrGuildNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		m, _ := member(rec, uid)
		return m != nil, nil
	}, ErrAlreadyInGuild)
}

// claimName claims a normalized name for gid.
func (s *Guilds) claimName(ctx context.Context, norm string, gid int64) error {
	return s.claim(ctx, nameKey(norm), gid, func(ctx context.Context, c *guildpb.Claim) (bool, error) {
		rec, err := s.record(ctx, c.GuildId)
		if errors.Is(err, ErrGuildNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return normalize(rec.Guild.Name) == norm, nil
	}, ErrNameTaken)
}

// release deletes the claim key if it is held by gid: only the revision it
// read, so that a claim another instance took over meanwhile (for another
// guild) survives. Errors are logged: a claim left behind is stale and
// taken over later.
func (s *Guilds) release(ctx context.Context, key string, gid int64) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return
	}
	if err == nil {
		var c *guildpb.Claim
		if c, err = decodeClaim(e.Value); err == nil && c.GuildId != gid {
			return
		}
	}
	if err == nil {
		err = s.kv.DeleteRev(ctx, key, e.Revision)
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			return // taken over or released meanwhile: no longer ours
		}
	}
	if err != nil {
		s.log.Warn("release claim", slog.String("key", key), slog.Any("error", err))
	}
}

// event pushes a membership change to the online members (and the
// affected user) and publishes it on Topic.
func (s *Guilds) event(ctx context.Context, kind guildpb.GuildEventKind, gid, uid, actor int64, r guildpb.Role, to []int64) {
	ev := &guildpb.GuildEvent{Kind: kind, GuildId: gid, UserId: uid, ActorId: actor, Role: r, AtMs: s.nowMs()}
	s.events(ctx, []*guildpb.GuildEvent{ev}, to)
}

// events publishes evs and pushes each to the users to (plus its user).
func (s *Guilds) events(ctx context.Context, evs []*guildpb.GuildEvent, to []int64) {
	if s.notify == nil {
		return
	}
	for _, ev := range evs {
		if err := s.notify.Publish(ctx, Topic, ev); err != nil {
			s.log.Warn("publish guild event", slog.Any("error", err))
		}
		users := to
		if !slices.Contains(to, ev.UserId) {
			users = append(slices.Clone(to), ev.UserId)
		}
		if err := s.notify.PushTo(ctx, users, Cmd, SubEventPush, ev); err != nil {
			s.log.Warn("push guild event", slog.Any("error", err))
		}
	}
}

// admins lists the user IDs of rec's admins and superadmins.
func admins(rec *guildpb.GuildRecord) []int64 {
	var ids []int64
	for _, m := range rec.Members {
		if m.Role >= guildpb.Role_ROLE_ADMIN {
			ids = append(ids, m.UserId)
		}
	}
	return ids
}

func needUser(uid int64) error {
	if uid <= 0 {
		return errs.ErrLoginRequired
	}
	return nil
}

// Create creates a guild with actor as its superadmin.
func (s *Guilds) Create(ctx context.Context, actor int64, req *guildpb.CreateGuild) (*guildpb.Guild, error) {
	if err := needUser(actor); err != nil {
		return nil, err
	}
	name, norm, err := cleanName(req.Name)
	if err != nil {
		return nil, err
	}
	if err := s.checkSettings(req.Description, req.Language, req.Metadata, req.MaxMembers); err != nil {
		return nil, err
	}
	maxM := req.MaxMembers
	if maxM == 0 {
		maxM = int32(s.cfg.DefaultMaxMembers)
	}
	for {
		gid := guildID()
		if err := s.claimUser(ctx, actor, gid); err != nil {
			return nil, err
		}
		if err := s.claimName(ctx, norm, gid); err != nil {
			s.release(ctx, userKey(actor), gid)
			return nil, err
		}
		now := s.nowMs()
		rec := &guildpb.GuildRecord{
			Guild: &guildpb.Guild{
				Id: gid, Name: name, Description: req.Description, Open: req.Open,
				Language: req.Language, MaxMembers: maxM, MemberCount: 1,
				Metadata: req.Metadata, CreatedAtMs: now,
			},
			Members: []*guildpb.Member{{UserId: actor, Role: guildpb.Role_ROLE_SUPERADMIN, JoinedAtMs: now}},
		}
		_, err := s.kv.Create(ctx, guildKey(gid), encode(rec))
		if err != nil {
			s.release(ctx, nameKey(norm), gid)
			s.release(ctx, userKey(actor), gid)
			if errors.Is(err, store.ErrExists) {
				continue // an ID collision: draw again
			}
			return nil, err
		}
		s.idx.put(rec) // read-your-writes on this instance; the watch confirms
		s.event(ctx, guildpb.GuildEventKind_GUILD_EVENT_KIND_JOINED, gid, actor, actor, guildpb.Role_ROLE_SUPERADMIN, nil)
		return public(rec), nil
	}
}

// checkSettings validates the settable fields of a guild; maxM 0 is
// allowed (the default).
func (s *Guilds) checkSettings(desc, lang, md string, maxM int32) error {
	if err := validText(desc, MaxDescription, "description"); err != nil {
		return err
	}
	if err := validText(lang, MaxLanguage, "language"); err != nil {
		return err
	}
	if err := validText(md, MaxMetadata, "metadata"); err != nil {
		return err
	}
	if maxM < 0 || int(maxM) > s.cfg.MaxMembersLimit {
		return errs.ErrValidation.WithMsg(fmt.Sprintf("guild: max members must be 1..%d", s.cfg.MaxMembersLimit))
	}
	return nil
}

// Update changes the settings of actor's guild; actor must be an admin or
// the superadmin.
func (s *Guilds) Update(ctx context.Context, actor int64, req *guildpb.UpdateGuild) (*guildpb.Guild, error) {
	if err := s.checkSettings(req.GetDescription(), req.GetLanguage(), req.GetMetadata(), req.GetMaxMembers()); err != nil {
		return nil, err
	}
	if req.MaxMembers != nil && *req.MaxMembers == 0 {
		return nil, errs.ErrValidation.WithMsg(fmt.Sprintf("guild: max members must be 1..%d", s.cfg.MaxMembersLimit))
	}
	mine, err := s.myGuild(ctx, actor)
	if err != nil {
		return nil, err
	}
	rec, err := s.mutate(ctx, mine.Guild.Id, func(rec *guildpb.GuildRecord) error {
		if role(rec, actor) < guildpb.Role_ROLE_ADMIN {
			return ErrPermission
		}
		g := rec.Guild
		if req.Description != nil {
			g.Description = *req.Description
		}
		if req.Open != nil {
			g.Open = *req.Open
		}
		if req.Language != nil {
			g.Language = *req.Language
		}
		if req.Metadata != nil {
			g.Metadata = *req.Metadata
		}
		if req.MaxMembers != nil {
			if int(*req.MaxMembers) < len(rec.Members) {
				return ErrMaxBelowCount
			}
			g.MaxMembers = *req.MaxMembers
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.idx.put(rec)
	return public(rec), nil
}

// Disband deletes actor's guild; actor must be a superadmin. Every member
// gets a DISBANDED event.
func (s *Guilds) Disband(ctx context.Context, actor int64) error {
	mine, err := s.myGuild(ctx, actor)
	if err != nil {
		return err
	}
	gid := mine.Guild.Id
	// Mark the record first: from then on no change applies, so the member
	// list below is final.
	rec, err := s.mutate(ctx, gid, func(rec *guildpb.GuildRecord) error {
		if role(rec, actor) != guildpb.Role_ROLE_SUPERADMIN {
			return ErrPermission
		}
		rec.Disbanded = true
		return nil
	})
	if err != nil {
		return err
	}
	s.release(ctx, nameKey(normalize(rec.Guild.Name)), gid)
	for _, m := range rec.Members {
		s.release(ctx, userKey(m.UserId), gid)
	}
	if keys, err := s.kv.Keys(ctx, requestPrefix(gid)); err == nil {
		for _, k := range keys {
			_ = s.kv.Delete(ctx, k)
		}
	}
	_ = s.kv.Delete(ctx, chatKey(gid))
	if err := s.kv.Delete(ctx, guildKey(gid)); err != nil {
		return err
	}
	s.idx.remove(gid)
	now := s.nowMs()
	evs := make([]*guildpb.GuildEvent, len(rec.Members))
	for i, m := range rec.Members {
		evs[i] = &guildpb.GuildEvent{Kind: guildpb.GuildEventKind_GUILD_EVENT_KIND_DISBANDED,
			GuildId: gid, UserId: m.UserId, ActorId: actor, AtMs: now}
	}
	s.events(ctx, evs, nil)
	return nil
}

// errClosedNow: the guild closed between the read and the join.
var errClosedNow = errors.New("guild: closed meanwhile")

// Join joins actor to guild gid: at once when it is open, else by a join
// request (JoinResult.Joined false).
func (s *Guilds) Join(ctx context.Context, actor, gid int64) (*guildpb.JoinResult, error) {
	if err := needUser(actor); err != nil {
		return nil, err
	}
	rec, err := s.record(ctx, gid)
	if err != nil {
		return nil, err
	}
	if m, _ := member(rec, actor); m != nil {
		return nil, ErrAlreadyInGuild
	}
	if isBanned(rec, actor) {
		return nil, ErrBanned
	}
	if !rec.Guild.Open {
		return s.request(ctx, actor, rec)
	}
	if len(rec.Members) >= int(rec.Guild.MaxMembers) {
		return nil, ErrGuildFull // the common case of a full guild costs no write
	}
	if err := s.claimUser(ctx, actor, gid); err != nil {
		return nil, err
	}
	rec, err = s.mutate(ctx, gid, func(rec *guildpb.GuildRecord) error {
		switch {
		case isBanned(rec, actor):
			return ErrBanned
		case !rec.Guild.Open:
			return errClosedNow
		case len(rec.Members) >= int(rec.Guild.MaxMembers):
			return ErrGuildFull
		}
		if m, _ := member(rec, actor); m == nil {
			rec.Members = append(rec.Members, &guildpb.Member{UserId: actor, Role: guildpb.Role_ROLE_MEMBER, JoinedAtMs: s.nowMs()})
		}
		return nil
	})
	if err != nil {
		s.release(ctx, userKey(actor), gid)
		if errors.Is(err, errClosedNow) {
			if rec, err = s.record(ctx, gid); err != nil {
				return nil, err
			}
			return s.request(ctx, actor, rec)
		}
		return nil, err
	}
	s.idx.put(rec)
	s.event(ctx, guildpb.GuildEventKind_GUILD_EVENT_KIND_JOINED, gid, actor, actor, guildpb.Role_ROLE_MEMBER, memberIDs(rec))
	return &guildpb.JoinResult{Joined: true, Guild: public(rec)}, nil
}

// request files actor's join request to the closed guild rec.
func (s *Guilds) request(ctx context.Context, actor int64, rec *guildpb.GuildRecord) (*guildpb.JoinResult, error) {
	gid := rec.Guild.Id
	if _, err := s.myGuild(ctx, actor); err == nil {
		return nil, ErrAlreadyInGuild
	} else if !errors.Is(err, ErrNotInGuild) {
		return nil, err
	}
	// The cap is approximate under concurrent requests; it bounds abuse.
	keys, err := s.kv.Keys(ctx, requestPrefix(gid))
	if err != nil {
		return nil, err
	}
	if len(keys) >= s.cfg.MaxRequests {
		return nil, ErrTooManyRequests
	}
	jr := &guildpb.JoinRequest{GuildId: gid, UserId: actor, RequestedAtMs: s.nowMs()}
	if _, err := s.kv.Create(ctx, requestKey(gid, actor), encode(jr)); errors.Is(err, store.ErrExists) {
		return nil, ErrRequestPending
	} else if err != nil {
		return nil, err
	}
	s.event(ctx, guildpb.GuildEventKind_GUILD_EVENT_KIND_REQUESTED, gid, actor, actor, guildpb.Role_ROLE_UNSPECIFIED, admins(rec))
	return &guildpb.JoinResult{Joined: false, Guild: public(rec)}, nil
}

// Leave removes actor from its guild. The last superadmin cannot leave.
func (s *Guilds) Leave(ctx context.Context, actor int64) error {
	mine, err := s.myGuild(ctx, actor)
	if err != nil {
		return err
	}
	gid := mine.Guild.Id
	rec, err := s.mutate(ctx, gid, func(rec *guildpb.GuildRecord) error {
		m, i := member(rec, actor)
		if m == nil {
			return ErrNotInGuild
		}
		if m.Role == guildpb.Role_ROLE_SUPERADMIN && superadmins(rec) == 1 {
			return ErrLastSuperadmin
		}
		removeMember(rec, i)
		return nil
	})
	if err != nil {
		return err
	}
	s.release(ctx, userKey(actor), gid)
	s.idx.put(rec)
	s.event(ctx, guildpb.GuildEventKind_GUILD_EVENT_KIND_LEFT, gid, actor, actor, guildpb.Role_ROLE_UNSPECIFIED, memberIDs(rec))
	return nil
}

// adminGuild returns actor's guild when actor is at least an admin.
func (s *Guilds) adminGuild(ctx context.Context, actor int64) (*guildpb.GuildRecord, error) {
	rec, err := s.myGuild(ctx, actor)
	if err != nil {
		return nil, err
	}
	if role(rec, actor) < guildpb.Role_ROLE_ADMIN {
		return nil, ErrPermission
	}
	return rec, nil
}

// Requests lists the pending join requests of actor's guild, oldest
// first; actor must be an admin or superadmin.
func (s *Guilds) Requests(ctx context.Context, actor int64) (*guildpb.JoinRequestList, error) {
	rec, err := s.adminGuild(ctx, actor)
	if err != nil {
		return nil, err
	}
	keys, err := s.kv.Keys(ctx, requestPrefix(rec.Guild.Id))
	if err != nil {
		return nil, err
	}
	out := &guildpb.JoinRequestList{}
	for _, k := range keys {
		e, err := s.kv.Get(ctx, k)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		jr := new(guildpb.JoinRequest)
		if err := proto.Unmarshal(e.Value, jr); err != nil {
			return nil, err
		}
		if m, _ := member(rec, jr.UserId); m != nil || isBanned(rec, jr.UserId) {
			_ = s.kv.Delete(ctx, k) // joined while the guild was open, or banned: moot
			continue
		}
		out.Requests = append(out.Requests, jr)
	}
	slices.SortFunc(out.Requests, func(a, b *guildpb.JoinRequest) int {
		return cmp.Or(cmp.Compare(a.RequestedAtMs, b.RequestedAtMs), cmp.Compare(a.UserId, b.UserId))
	})
	return out, nil
}

// Approve accepts target's join request to actor's guild.
func (s *Guilds) Approve(ctx context.Context, actor, target int64) (*guildpb.Member, error) {
	mine, err := s.adminGuild(ctx, actor)
	if err != nil {
		return nil, err
	}
	gid := mine.Guild.Id
	rk := requestKey(gid, target)
	if _, err := s.kv.Get(ctx, rk); errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoRequest
	} else if err != nil {
		return nil, err
	}
	if err := s.claimUser(ctx, target, gid); err != nil {
		if errors.Is(err, ErrAlreadyInGuild) {
			_ = s.kv.Delete(ctx, rk) // joined elsewhere meanwhile: the request is moot
		}
		return nil, err
	}
	var joined *guildpb.Member
	rec, err := s.mutate(ctx, gid, func(rec *guildpb.GuildRecord) error {
		switch {
		case role(rec, actor) < guildpb.Role_ROLE_ADMIN:
			return ErrPermission
		case isBanned(rec, target):
			return ErrBanned
		}
		if m, _ := member(rec, target); m != nil {
			joined = m
			return nil
		}
		if len(rec.Members) >= int(rec.Guild.MaxMembers) {
			return ErrGuildFull
		}
		joined = &guildpb.Member{UserId: target, Role: guildpb.Role_ROLE_MEMBER, JoinedAtMs: s.nowMs()}
		rec.Members = append(rec.Members, joined)
		return nil
	})
	if err != nil {
		s.release(ctx, userKey(target), gid)
		if errors.Is(err, ErrBanned) {
			_ = s.kv.Delete(ctx, rk)
		}
		return nil, err
	}
	if err := s.kv.Delete(ctx, rk); err != nil {
		s.log.Warn("delete join request", slog.Any("error", err))
	}
	s.idx.put(rec)
	s.event(ctx, guildpb.GuildEventKind_GUILD_EVENT_KIND_JOINED, gid, target, actor, guildpb.Role_ROLE_MEMBER, memberIDs(rec))
	return proto.CloneOf(joined), nil
}

// Reject declines target's join request to actor's guild.
func (s *Guilds) Reject(ctx context.Context, actor, target int64) error {
	rec, err := s.adminGuild(ctx, actor)
	if err != nil {
		return err
	}
	gid := rec.Guild.Id
	rk := requestKey(gid, target)
	if _, err := s.kv.Get(ctx, rk); errors.Is(err, store.ErrNotFound) {
		return ErrNoRequest
	} else if err != nil {
		return err
	}
	if err := s.kv.Delete(ctx, rk); err != nil {
		return err
	}
	s.event(ctx, guildpb.GuildEventKind_GUILD_EVENT_KIND_REJECTED, gid, target, actor, guildpb.Role_ROLE_UNSPECIFIED, admins(rec))
	return nil
}

// mayRemove reports whether a member of role actor may kick or ban one of
// role target: a superadmin anyone, an admin members only.
func mayRemove(actor, target guildpb.Role) bool {
	return actor == guildpb.Role_ROLE_SUPERADMIN ||
		actor == guildpb.Role_ROLE_ADMIN && target <= guildpb.Role_ROLE_MEMBER
}

// Promote raises target one role: member to admin (by an admin or a
// superadmin), admin to superadmin (by a superadmin).
func (s *Guilds) Promote(ctx context.Context, actor, target int64) (*guildpb.Member, error) {
	return s.changeRole(ctx, actor, target, +1)
}

// Demote lowers target one role: superadmin to admin, admin to member;
// only a superadmin demotes, and never the last superadmin.
func (s *Guilds) Demote(ctx context.Context, actor, target int64) (*guildpb.Member, error) {
	return s.changeRole(ctx, actor, target, -1)
}

func (s *Guilds) changeRole(ctx context.Context, actor, target int64, step int) (*guildpb.Member, error) {
	mine, err := s.myGuild(ctx, actor)
	if err != nil {
		return nil, err
	}
	gid := mine.Guild.Id
	var out *guildpb.Member
	rec, err := s.mutate(ctx, gid, func(rec *guildpb.GuildRecord) error {
		a := role(rec, actor)
		m, _ := member(rec, target)
		switch {
		case a == guildpb.Role_ROLE_UNSPECIFIED:
			return ErrNotInGuild
		case m == nil:
			return ErrNotMember
		}
		t := m.Role
		if step > 0 {
			switch {
			case t == guildpb.Role_ROLE_SUPERADMIN:
				return ErrPermission.WithMsg("guild: already a superadmin")
			case a == guildpb.Role_ROLE_SUPERADMIN && actor != target,
				a == guildpb.Role_ROLE_ADMIN && t == guildpb.Role_ROLE_MEMBER:
			default:
				return ErrPermission
			}
			m.Role = t + 1
		} else {
			switch {
			case a != guildpb.Role_ROLE_SUPERADMIN:
				return ErrPermission
			case t == guildpb.Role_ROLE_MEMBER:
				return ErrPermission.WithMsg("guild: already a plain member")
			case t == guildpb.Role_ROLE_SUPERADMIN && superadmins(rec) == 1:
				return ErrLastSuperadmin
			}
			m.Role = t - 1
		}
		out = proto.CloneOf(m)
		return nil
	})
	if err != nil {
		return nil, err
	}
	kind := guildpb.GuildEventKind_GUILD_EVENT_KIND_PROMOTED
	if step < 0 {
		kind = guildpb.GuildEventKind_GUILD_EVENT_KIND_DEMOTED
	}
	s.event(ctx, kind, gid, target, actor, out.Role, memberIDs(rec))
	return out, nil
}

// Kick removes target from actor's guild: a superadmin may kick anyone
// else, an admin plain members.
func (s *Guilds) Kick(ctx context.Context, actor, target int64) error {
	return s.remove(ctx, actor, target, false)
}

// Ban removes target from actor's guild, if a member (with the rules of
// Kick), and keeps it from joining or asking to join until Unban. A user
// who is not a member may be banned by an admin too.
func (s *Guilds) Ban(ctx context.Context, actor, target int64) error {
	return s.remove(ctx, actor, target, true)
}

func (s *Guilds) remove(ctx context.Context, actor, target int64, ban bool) error {
	if target <= 0 {
		return errs.ErrValidation.WithMsg("guild: user_id must be positive")
	}
	mine, err := s.myGuild(ctx, actor)
	if err != nil {
		return err
	}
	gid := mine.Guild.Id
	var wasMember bool
	rec, err := s.mutate(ctx, gid, func(rec *guildpb.GuildRecord) error {
		a := role(rec, actor)
		m, i := member(rec, target)
		switch {
		case a == guildpb.Role_ROLE_UNSPECIFIED:
			return ErrNotInGuild
		case actor == target:
			return ErrPermission.WithMsg("guild: use leave to remove yourself")
		case a < guildpb.Role_ROLE_ADMIN:
			return ErrPermission
		case m == nil && !ban:
			return ErrNotMember
		case m != nil && !mayRemove(a, m.Role):
			return ErrPermission
		}
		wasMember = m != nil
		if wasMember {
			removeMember(rec, i)
		}
		if ban && !isBanned(rec, target) {
			if len(rec.Banned) >= s.cfg.MaxBans {
				return ErrBanListFull
			}
			rec.Banned = append(rec.Banned, target)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if wasMember {
		s.release(ctx, userKey(target), gid)
	}
	if ban {
		_ = s.kv.Delete(ctx, requestKey(gid, target))
	}
	s.idx.put(rec)
	kind := guildpb.GuildEventKind_GUILD_EVENT_KIND_KICKED
	if ban {
		kind = guildpb.GuildEventKind_GUILD_EVENT_KIND_BANNED
	}
	s.event(ctx, kind, gid, target, actor, guildpb.Role_ROLE_UNSPECIFIED, memberIDs(rec))
	return nil
}

// Unban lifts target's ban from actor's guild; actor must be an admin or
// superadmin. Unbanning a user who is not banned is not an error.
func (s *Guilds) Unban(ctx context.Context, actor, target int64) error {
	mine, err := s.myGuild(ctx, actor)
	if err != nil {
		return err
	}
	gid := mine.Guild.Id
	var was bool
	rec, err := s.mutate(ctx, gid, func(rec *guildpb.GuildRecord) error {
		if role(rec, actor) < guildpb.Role_ROLE_ADMIN {
			return ErrPermission
		}
		n := len(rec.Banned)
		rec.Banned = slices.DeleteFunc(rec.Banned, func(u int64) bool { return u == target })
		was = len(rec.Banned) < n
		return nil
	})
	if err != nil || !was {
		return err
	}
	s.event(ctx, guildpb.GuildEventKind_GUILD_EVENT_KIND_UNBANNED, gid, target, actor, guildpb.Role_ROLE_UNSPECIFIED, admins(rec))
	return nil
}

// Bans lists the users banned from actor's guild; actor must be an admin
// or superadmin.
func (s *Guilds) Bans(ctx context.Context, actor int64) ([]int64, error) {
	rec, err := s.adminGuild(ctx, actor)
	if err != nil {
		return nil, err
	}
	return slices.Clone(rec.Banned), nil
}

// Get returns guild gid, read from the store.
func (s *Guilds) Get(ctx context.Context, gid int64) (*guildpb.Guild, error) {
	rec, err := s.record(ctx, gid)
	if err != nil {
		return nil, err
	}
	return public(rec), nil
}

// Mine returns actor's guild, or ErrNotInGuild.
func (s *Guilds) Mine(ctx context.Context, actor int64) (*guildpb.Guild, error) {
	rec, err := s.myGuild(ctx, actor)
	if err != nil {
		return nil, err
	}
	return public(rec), nil
}

// Members lists the members of guild gid with their roles.
func (s *Guilds) Members(ctx context.Context, gid int64) (*guildpb.MemberList, error) {
	rec, err := s.record(ctx, gid)
	if err != nil {
		return nil, err
	}
	return &guildpb.MemberList{GuildId: gid, Members: sortedMembers(rec)}, nil
}

// SetMemberMetadata sets actor's own member metadata.
func (s *Guilds) SetMemberMetadata(ctx context.Context, actor int64, md string) (*guildpb.Member, error) {
	if err := validText(md, MaxMemberMD, "member metadata"); err != nil {
		return nil, err
	}
	mine, err := s.myGuild(ctx, actor)
	if err != nil {
		return nil, err
	}
	var out *guildpb.Member
	_, err = s.mutate(ctx, mine.Guild.Id, func(rec *guildpb.GuildRecord) error {
		m, _ := member(rec, actor)
		if m == nil {
			return ErrNotInGuild
		}
		m.Metadata = md
		out = proto.CloneOf(m)
		return nil
	})
	return out, err
}
