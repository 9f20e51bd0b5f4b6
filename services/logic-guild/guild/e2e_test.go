package guild

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/external"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
	"github.com/iogo-dev/iogo/pkg/store"
	"github.com/iogo-dev/iogo/pkg/svcmain/svctest"
	guildpb "github.com/iogo-dev/iogo/proto/guild"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// startListener runs another service that subscribes to the guild
// events; they arrive on the returned channel.
func startListener(t testing.TB, b *broker.Broker) <-chan *guildpb.GuildEvent {
	ch := make(chan *guildpb.GuildEvent, 1024)
	r := route.NewRouter()
	route.Subscribe(r, Topic, func(_ *logic.Ctx, ev *guildpb.GuildEvent) error {
		ch <- ev
		return nil
	})
	svctest.Logic(t, b, logic.Config{Service: "listener", Router: r, Logger: testLogger()})
	return ch
}

// player dials gate g and logs in as id through the stand-in login.
func player(t testing.TB, g *external.Server, id int64) *client.Client {
	t.Helper()
	return svctest.Player(t, g, id, client.WithPushBuffer(256))
}

// call calls guild route sub.
func call[Req, Resp any](t testing.TB, c *client.Client, sub int32, req Req) (Resp, error) {
	return client.Call[Req, Resp](ctxT(t), c, Cmd, sub, req)
}

// waitPush reads c's pushes until one on sub decodes into a T that ok
// accepts.
func waitPush[T proto.Message](t testing.TB, c *client.Client, sub int32, newT func() T, ok func(T) bool) T {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, open := <-c.Pushes():
			if !open {
				t.Fatal("connection closed")
			}
			if m.Cmd() != Cmd || m.Sub() != sub {
				continue
			}
			v := newT()
			if err := proto.Unmarshal(m.Data, v); err != nil {
				t.Fatal(err)
			}
			if ok(v) {
				return v
			}
		case <-timeout:
			var zero T
			t.Fatalf("no push on %d-%d", Cmd, sub)
			return zero
		}
	}
}

func waitEvent(t testing.TB, c *client.Client, kind guildpb.GuildEventKind, user int64) *guildpb.GuildEvent {
	t.Helper()
	return waitPush(t, c, SubEventPush, func() *guildpb.GuildEvent { return new(guildpb.GuildEvent) },
		func(ev *guildpb.GuildEvent) bool { return ev.Kind == kind && ev.UserId == user })
}

// stack starts a broker's worth of the whole system: two guild instances,
// the login stand-in, an event listener in another service and a gate.
func stack(t *testing.T, b *broker.Broker, st store.Opener) (gate *external.Server, events <-chan *guildpb.GuildEvent) {
	startInstance(t, b, st, Config{})
	startInstance(t, b, st, Config{})
	svctest.Logic(t, b, logic.Config{Service: "testlogin", Router: svctest.LoginRouter(), Logger: testLogger()})
	events = startListener(t, b)
	return svctest.Gate(t, b), events
}

func TestEndToEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *broker.Broker, st store.Opener) {
		url, events := stack(t, b, st)
		alice, bob, carol, dave := player(t, url, 1), player(t, url, 2), player(t, url, 3), player(t, url, 4)
		empty := &emptypb.Empty{}

		gd, err := call[*guildpb.CreateGuild, *guildpb.Guild](t, alice, SubCreate, &guildpb.CreateGuild{Name: "Knights", Open: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := call[*guildpb.CreateGuild, *guildpb.Guild](t, dave, SubCreate, &guildpb.CreateGuild{Name: "KNIGHTS"}); !errors.Is(err, ErrNameTaken) {
			t.Fatalf("duplicate name over the wire: %v", err)
		}
		ref := &guildpb.GuildRef{GuildId: gd.Id}
		// Open guild: bob joins at once; alice is told.
		if res, err := call[*guildpb.GuildRef, *guildpb.JoinResult](t, bob, SubJoin, ref); err != nil || !res.Joined {
			t.Fatalf("bob joins: %v %v", res, err)
		}
		waitEvent(t, alice, guildpb.GuildEventKind_GUILD_EVENT_KIND_JOINED, 2)
		// Closed guild: carol asks, alice sees the request and approves.
		if _, err := call[*guildpb.UpdateGuild, *guildpb.Guild](t, alice, SubUpdate, &guildpb.UpdateGuild{Open: proto.Bool(false)}); err != nil {
			t.Fatal(err)
		}
		if res, err := call[*guildpb.GuildRef, *guildpb.JoinResult](t, carol, SubJoin, ref); err != nil || res.Joined {
			t.Fatalf("carol asks: %v %v", res, err)
		}
		waitEvent(t, alice, guildpb.GuildEventKind_GUILD_EVENT_KIND_REQUESTED, 3)
		reqs, err := call[*emptypb.Empty, *guildpb.JoinRequestList](t, alice, SubRequests, empty)
		if err != nil || len(reqs.Requests) != 1 || reqs.Requests[0].UserId != 3 {
			t.Fatalf("requests %v %v", reqs, err)
		}
		if _, err := call[*guildpb.MemberRef, *guildpb.Member](t, alice, SubApprove, &guildpb.MemberRef{UserId: 3}); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, carol, guildpb.GuildEventKind_GUILD_EVENT_KIND_JOINED, 3)
		// Promote bob to admin; bob kicks carol, who is told.
		if m, err := call[*guildpb.MemberRef, *guildpb.Member](t, alice, SubPromote, &guildpb.MemberRef{UserId: 2}); err != nil || m.Role != guildpb.Role_ROLE_ADMIN {
			t.Fatalf("promote: %v %v", m, err)
		}
		if _, err := call[*guildpb.MemberRef, *emptypb.Empty](t, bob, SubKick, &guildpb.MemberRef{UserId: 1}); !errors.Is(err, ErrPermission) {
			t.Fatalf("admin kicks superadmin: %v", err)
		}
		if _, err := call[*guildpb.MemberRef, *emptypb.Empty](t, bob, SubKick, &guildpb.MemberRef{UserId: 3}); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, carol, guildpb.GuildEventKind_GUILD_EVENT_KIND_KICKED, 3)
		if _, err := call[*guildpb.ChatSend, *guildpb.ChatMessage](t, carol, SubChat, &guildpb.ChatSend{Text: "let me back"}); !errors.Is(err, ErrNotInGuild) {
			t.Fatalf("kicked player chats: %v", err)
		}
		// Chat: bob's line reaches alice.
		if _, err := call[*guildpb.ChatSend, *guildpb.ChatMessage](t, bob, SubChat, &guildpb.ChatSend{Text: "hello"}); err != nil {
			t.Fatal(err)
		}
		line := waitPush(t, alice, SubChatPush, func() *guildpb.ChatMessage { return new(guildpb.ChatMessage) },
			func(m *guildpb.ChatMessage) bool { return true })
		if line.Text != "hello" || line.UserId != 2 || line.GuildId != gd.Id {
			t.Fatalf("chat push %v", line)
		}
		hist, err := call[*emptypb.Empty, *guildpb.ChatHistory](t, alice, SubHistory, empty)
		if err != nil || len(hist.Messages) != 1 || hist.Messages[0].Text != "hello" {
			t.Fatalf("history %v %v", hist, err)
		}
		ms, err := call[*guildpb.GuildRef, *guildpb.MemberList](t, dave, SubMembers, ref)
		if err != nil || len(ms.Members) != 2 || ms.Members[0].UserId != 1 || ms.Members[1].Role != guildpb.Role_ROLE_ADMIN {
			t.Fatalf("members %v %v", ms, err)
		}
		page, err := call[*guildpb.SearchGuilds, *guildpb.GuildPage](t, dave, SubSearch, &guildpb.SearchGuilds{NamePrefix: "kni"})
		if err != nil || len(page.Guilds) != 1 || page.Guilds[0].Id != gd.Id {
			t.Fatalf("search %v %v", page, err)
		}
		// Another service heard every change on the event bus, in order.
		want := []struct {
			kind guildpb.GuildEventKind
			user int64
		}{
			{guildpb.GuildEventKind_GUILD_EVENT_KIND_JOINED, 1},
			{guildpb.GuildEventKind_GUILD_EVENT_KIND_JOINED, 2},
			{guildpb.GuildEventKind_GUILD_EVENT_KIND_REQUESTED, 3},
			{guildpb.GuildEventKind_GUILD_EVENT_KIND_JOINED, 3},
			{guildpb.GuildEventKind_GUILD_EVENT_KIND_PROMOTED, 2},
			{guildpb.GuildEventKind_GUILD_EVENT_KIND_KICKED, 3},
		}
		for i, w := range want {
			select {
			case ev := <-events:
				if ev.Kind != w.kind || ev.UserId != w.user || ev.GuildId != gd.Id {
					t.Fatalf("event %d: %v, want %v of %d", i, ev, w.kind, w.user)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("event %d (%v of %d) not received", i, w.kind, w.user)
			}
		}
	})
}

// TestEndToEndConcurrentJoins: 60 players on real connections join a guild
// with 20 free slots at once, through two guild instances: exactly 20 get
// in, the others are told 1202 (guild full).
func TestEndToEndConcurrentJoins(t *testing.T) {
	const players, free = 60, 20
	forEachBackend(t, func(t *testing.T, b *broker.Broker, st store.Opener) {
		url, _ := stack(t, b, st)
		owner := player(t, url, 1)
		gd, err := call[*guildpb.CreateGuild, *guildpb.Guild](t, owner, SubCreate, &guildpb.CreateGuild{Name: "Crowded", Open: true, MaxMembers: free + 1})
		if err != nil {
			t.Fatal(err)
		}
		cs := make([]*client.Client, players)
		for i := range cs {
			cs[i] = player(t, url, int64(100+i))
		}
		errList := make([]error, players)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, c := range cs {
			wg.Go(func() {
				<-start
				res, err := call[*guildpb.GuildRef, *guildpb.JoinResult](t, c, SubJoin, &guildpb.GuildRef{GuildId: gd.Id})
				if err == nil && !res.Joined {
					err = fmt.Errorf("not joined")
				}
				errList[i] = err
			})
		}
		close(start)
		wg.Wait()
		var ok, full int
		for i, err := range errList {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrGuildFull):
				full++
			default:
				t.Errorf("player %d: %v", 100+i, err)
			}
		}
		if ok != free || full != players-free {
			t.Fatalf("%d joined, %d full; want %d and %d", ok, full, free, players-free)
		}
		got, err := call[*guildpb.GuildRef, *guildpb.Guild](t, owner, SubGet, &guildpb.GuildRef{GuildId: gd.Id})
		if err != nil || got.MemberCount != free+1 {
			t.Fatalf("guild %v %v", got, err)
		}
	})
}
