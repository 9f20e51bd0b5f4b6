package guild

import (
	"context"
	"flag"
	"fmt"
	"sync"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
	"github.com/iogo-dev/iogo/pkg/store"
	guildpb "github.com/iogo-dev/iogo/proto/guild"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Module is the guild service as a logic.Module: its routes, opened on a
// store backend by the service's main or `iogo dev`.
type Module struct {
	cfg Config

	mu     sync.Mutex
	g      *Guilds // set by Open
	cancel context.CancelFunc
	done   <-chan struct{}
}

var _ logic.Module = (*Module)(nil)

// New returns the module with cfg, validated at Open. It does no I/O.
func New(cfg Config) *Module { return &Module{cfg: cfg} }

// FromFlags returns a module whose configuration is read from fs: it adds
// the service's flags (Config.RegisterFlags), which fs.Parse then sets.
func FromFlags(fs *flag.FlagSet) *Module {
	m := &Module{}
	m.cfg.RegisterFlags(fs)
	return m
}

// Guilds returns the guild logic once Open has run, else nil.
func (m *Module) Guilds() *Guilds {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.g
}

// errNotOpen answers a request that reaches a module before Open.
var errNotOpen = errs.ErrSystem.WithMsg("guild: service not ready")

func (m *Module) guilds() (*Guilds, error) {
	if g := m.Guilds(); g != nil {
		return g, nil
	}
	return nil, errNotOpen
}

// Open opens the module's bucket on st, with srv as the executor of
// guild changes and srv's client for pushes and events, and loads the
// search index.
func (m *Module) Open(ctx context.Context, srv *logic.Server, st store.Opener) error {
	if err := m.cfg.Validate(); err != nil {
		return err
	}
	kv, err := st.Open(ctx, store.Bucket{Name: m.cfg.Bucket, Description: "iogo guild service: guilds, name and membership claims, join requests, chat history"})
	if err != nil {
		return fmt.Errorf("guild: open bucket: %w", err)
	}
	var exec Executor
	var notify Notifier
	if srv != nil {
		exec = srv
		if cl := srv.Client(); cl != nil {
			notify = cl
		}
	}
	log := m.cfg.Logger
	if log == nil && srv != nil {
		log = srv.Logger()
	}
	g, err := NewGuilds(m.cfg, kv, exec, notify, log)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	// Loading the index is bounded by ctx; following it, by Close.
	stop := context.AfterFunc(ctx, cancel)
	done, err := g.Watch(wctx)
	stop()
	if err != nil {
		cancel()
		return fmt.Errorf("guild: load index: %w", err)
	}
	m.mu.Lock()
	m.g, m.cancel, m.done = g, cancel, done
	m.mu.Unlock()
	return nil
}

// Close stops the index watch. It is idempotent.
func (m *Module) Close() error {
	m.mu.Lock()
	cancel, done := m.cancel, m.done
	m.cancel = nil
	m.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return nil
}

// Router returns the routes of the guild service; the handlers serve once
// Open has run.
func (m *Module) Router() logic.RouteSource {
	r := route.NewRouter()
	for _, e := range declaredErrors {
		r.DeclareError(e.name, e.err)
	}
	g := r.Group(Cmd)
	route.Handle(g, SubCreate, func(c *logic.Ctx, req *guildpb.CreateGuild) (*guildpb.Guild, error) {
		s, err := m.guilds()
		if err != nil {
			return nil, err
		}
		return s.Create(c.Context(), c.UserID(), req)
	}, route.Doc("Creates a guild with the caller as its superadmin; the caller must not be in a guild. Names are unique ignoring case (1201)."))
	route.Handle(g, SubUpdate, func(c *logic.Ctx, req *guildpb.UpdateGuild) (*guildpb.Guild, error) {
		s, err := m.guilds()
		if err != nil {
			return nil, err
		}
		return s.Update(c.Context(), c.UserID(), req)
	}, route.Doc("Changes the set fields of the caller's guild (admin or superadmin)."))
	route.Handle(g, SubDisband, func(c *logic.Ctx, _ *emptypb.Empty) (*emptypb.Empty, error) {
		return empty(m, func(s *Guilds) error { return s.Disband(c.Context(), c.UserID()) })
	}, route.Doc("Deletes the caller's guild (superadmin only); every member gets a DISBANDED event (push 3-31)."))
	route.Handle(g, SubJoin, func(c *logic.Ctx, req *guildpb.GuildRef) (*guildpb.JoinResult, error) {
		s, err := m.guilds()
		if err != nil {
			return nil, err
		}
		return s.Join(c.Context(), c.UserID(), req.GuildId)
	}, route.Doc("Joins an open guild at once, or files a join request to a closed one (joined=false). A full guild answers 1202."))
	route.Handle(g, SubLeave, func(c *logic.Ctx, _ *emptypb.Empty) (*emptypb.Empty, error) {
		return empty(m, func(s *Guilds) error { return s.Leave(c.Context(), c.UserID()) })
	}, route.Doc("Leaves the caller's guild; the last superadmin cannot (1207)."))
	route.Handle(g, SubRequests, func(c *logic.Ctx, _ *emptypb.Empty) (*guildpb.JoinRequestList, error) {
		s, err := m.guilds()
		if err != nil {
			return nil, err
		}
		return s.Requests(c.Context(), c.UserID())
	}, route.Doc("Lists the pending join requests of the caller's guild, oldest first (admin or superadmin)."))
	route.Handle(g, SubApprove, func(c *logic.Ctx, req *guildpb.MemberRef) (*guildpb.Member, error) {
		s, err := m.guilds()
		if err != nil {
			return nil, err
		}
		return s.Approve(c.Context(), c.UserID(), req.UserId)
	}, route.Doc("Approves a join request: the user becomes a member (admin or superadmin)."))
	route.Handle(g, SubReject, func(c *logic.Ctx, req *guildpb.MemberRef) (*emptypb.Empty, error) {
		return empty(m, func(s *Guilds) error { return s.Reject(c.Context(), c.UserID(), req.UserId) })
	}, route.Doc("Rejects a join request (admin or superadmin)."))
	route.Handle(g, SubPromote, func(c *logic.Ctx, req *guildpb.MemberRef) (*guildpb.Member, error) {
		s, err := m.guilds()
		if err != nil {
			return nil, err
		}
		return s.Promote(c.Context(), c.UserID(), req.UserId)
	}, route.Doc("Raises a member one role: member to admin (admin or superadmin), admin to superadmin (superadmin)."))
	route.Handle(g, SubDemote, func(c *logic.Ctx, req *guildpb.MemberRef) (*guildpb.Member, error) {
		s, err := m.guilds()
		if err != nil {
			return nil, err
		}
		return s.Demote(c.Context(), c.UserID(), req.UserId)
	}, route.Doc("Lowers a member one role (superadmin only); never the last superadmin (1207)."))
	route.Handle(g, SubKick, func(c *logic.Ctx, req *guildpb.MemberRef) (*emptypb.Empty, error) {
		return empty(m, func(s *Guilds) error { return s.Kick(c.Context(), c.UserID(), req.UserId) })
	}, route.Doc("Removes a member: admins may kick members, superadmins anyone."))
	route.Handle(g, SubBan, func(c *logic.Ctx, req *guildpb.MemberRef) (*emptypb.Empty, error) {
		return empty(m, func(s *Guilds) error { return s.Ban(c.Context(), c.UserID(), req.UserId) })
	}, route.Doc("Removes a user (as kick) and keeps it from joining or asking to join until unbanned."))
	route.Handle(g, SubUnban, func(c *logic.Ctx, req *guildpb.MemberRef) (*emptypb.Empty, error) {
		return empty(m, func(s *Guilds) error { return s.Unban(c.Context(), c.UserID(), req.UserId) })
	}, route.Doc("Lifts a ban (admin or superadmin)."))
	route.Handle(g, SubGet, func(c *logic.Ctx, req *guildpb.GuildRef) (*guildpb.Guild, error) {
		s, err := m.guilds()
		if err != nil {
			return nil, err
		}
		return s.Get(c.Context(), req.GuildId)
	}, route.Doc("Returns a guild."))
	route.Handle(g, SubMine, func(c *logic.Ctx, _ *emptypb.Empty) (*guildpb.Guild, error) {
		s, err := m.guilds()
		if err != nil {
			return nil, err
		}
		return s.Mine(c.Context(), c.UserID())
	}, route.Doc("Returns the caller's guild, or 1204 when it is in none."))
	route.Handle(g, SubSearch, func(c *logic.Ctx, req *guildpb.SearchGuilds) (*guildpb.GuildPage, error) {
		s, err := m.guilds()
		if err != nil {
			return nil, err
		}
		return s.Search(req)
	}, route.Doc("Lists guilds by name prefix (ignoring case) and filters (open, free slots, language), in name order, a page at a time."))
	route.Handle(g, SubMembers, func(c *logic.Ctx, req *guildpb.GuildRef) (*guildpb.MemberList, error) {
		s, err := m.guilds()
		if err != nil {
			return nil, err
		}
		return s.Members(c.Context(), req.GuildId)
	}, route.Doc("Lists a guild's members with their roles, join times and metadata."))
	route.Handle(g, SubSetMemberMD, func(c *logic.Ctx, req *guildpb.SetMemberMetadata) (*guildpb.Member, error) {
		s, err := m.guilds()
		if err != nil {
			return nil, err
		}
		return s.SetMemberMetadata(c.Context(), c.UserID(), req.Metadata)
	}, route.Doc("Sets the caller's own member metadata."))
	route.Handle(g, SubBans, func(c *logic.Ctx, _ *emptypb.Empty) ([]int64, error) {
		s, err := m.guilds()
		if err != nil {
			return nil, err
		}
		return s.Bans(c.Context(), c.UserID())
	}, route.Doc("Lists the users banned from the caller's guild (admin or superadmin)."))
	route.Handle(g, SubChat, func(c *logic.Ctx, req *guildpb.ChatSend) (*guildpb.ChatMessage, error) {
		s, err := m.guilds()
		if err != nil {
			return nil, err
		}
		return s.Chat(c.Context(), c.UserID(), req.Text)
	}, route.Doc("Sends a chat line (1..512 bytes) to the caller's guild; online members get it on push 3-30. Over the sender's rate limit: 1214, the line is dropped."))
	route.Handle(g, SubHistory, func(c *logic.Ctx, _ *emptypb.Empty) (*guildpb.ChatHistory, error) {
		s, err := m.guilds()
		if err != nil {
			return nil, err
		}
		return s.History(c.Context(), c.UserID())
	}, route.Doc("Returns the recent chat lines of the caller's guild, oldest first."))
	route.DeclarePush[*guildpb.ChatMessage](g, SubChatPush, route.Doc("A chat line of the player's guild."))
	route.DeclarePush[*guildpb.GuildEvent](g, SubEventPush,
		route.Doc("A membership change of the player's guild (join, leave, kick, ban, role change, request, disband)."))
	return r
}

// empty runs fn on the opened guilds and answers an Empty.
func empty(m *Module, fn func(*Guilds) error) (*emptypb.Empty, error) {
	s, err := m.guilds()
	if err != nil {
		return nil, err
	}
	if err := fn(s); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}
