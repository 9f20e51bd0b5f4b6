package tests

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/iogo-dev/iogo/pkg/store/redistest"
	guildpb "github.com/iogo-dev/iogo/proto/guild"
	loginpb "github.com/iogo-dev/iogo/proto/login"
	rankpb "github.com/iogo-dev/iogo/proto/rank"
)

// Routes of the bundled modules used below (docs/api).
const (
	cmdLogin, loginRegister int32 = 1, 2
	cmdGuild, guildCreate   int32 = 3, 0
	guildJoin, guildMembers int32 = 3, 16
	cmdRank, rankSubmit     int32 = 4, 0
	rankTop                 int32 = 1
)

// TestModulesOnRedis runs the login, guild and rank services as their own
// processes with -redis, the way a deployment swaps Redis in: players
// register, found and join a guild and compete on a board; the data is in
// Redis and survives a restart of the rank service.
func TestModulesOnRedis(t *testing.T) {
	redisURL := "redis://" + redistest.Start(t) + "/0"
	b := startProc(t, "broker", "broker", "-host", "127.0.0.1", "-port", "-1", "-store", t.TempDir())
	nats := b.ready["nats"]
	startProc(t, "logic-login", "logic", "-brokers", nats, "-redis", redisURL, "-token-secret", "modules-test-secret-0123456789abcdef")
	startProc(t, "logic-guild", "logic", "-brokers", nats, "-redis", redisURL)
	rankArgs := []string{"-brokers", nats, "-redis", redisURL, "-boards", `[{"id":"arena","sort":"desc","operator":"best"}]`}
	rankSvc := startProc(t, "logic-rank", "logic", rankArgs...)
	gate := startProc(t, "external", "external", "-brokers", nats, "-ws", "", "-tcp", "127.0.0.1:0")

	type player struct {
		c  specConn
		id int64
	}
	msgID := int32(0)
	call := func(p player, cmd, sub int32, req, into proto.Message) {
		t.Helper()
		msgID++
		decode(t, request(t, p.c, cmd, sub, msgID, req), into)
	}
	register := func(name string) player {
		p := player{c: dialSpec(t, gate.ready["tcp"])}
		u := &loginpb.User{}
		call(p, cmdLogin, loginRegister, &loginpb.Register{Username: name, Password: "a long enough password"}, u)
		if !u.Created || u.Username != name || u.Tokens.GetToken() == "" {
			t.Fatalf("register %s: %v", name, u)
		}
		p.id = u.Id
		return p
	}
	alice, bob := register("alice"), register("bob")

	g := &guildpb.Guild{}
	call(alice, cmdGuild, guildCreate, &guildpb.CreateGuild{Name: "Knights", Open: true}, g)
	joined := &guildpb.JoinResult{}
	call(bob, cmdGuild, guildJoin, &guildpb.GuildRef{GuildId: g.Id}, joined)
	members := &guildpb.MemberList{}
	call(alice, cmdGuild, guildMembers, &guildpb.GuildRef{GuildId: g.Id}, members)
	if !joined.Joined || len(members.Members) != 2 {
		t.Fatalf("join %v, members %v", joined, members)
	}

	for _, s := range []struct {
		p     player
		score int64
	}{{alice, 10}, {bob, 20}, {alice, 5}} { // alice's 5 does not beat her 10 (operator best)
		call(s.p, cmdRank, rankSubmit, &rankpb.Submit{BoardId: "arena", Score: s.score}, &rankpb.Submitted{})
	}
	top := func() []int64 {
		t.Helper()
		recs := &rankpb.Records{}
		call(alice, cmdRank, rankTop, &rankpb.Top{Query: &rankpb.Query{BoardId: "arena"}}, recs)
		var ids []int64
		for _, r := range recs.Records {
			ids = append(ids, r.OwnerId)
		}
		return ids
	}
	if got := top(); len(got) != 2 || got[0] != bob.id || got[1] != alice.id {
		t.Fatalf("top %v, want [%d %d]", got, bob.id, alice.id)
	}

	// The rank service restarts; the board comes back from Redis. The
	// gate learns of the new instance from the registry a moment later.
	rankSvc.stop(t)
	startProc(t, "logic-rank", "logic", rankArgs...)
	waitUntil(t, 10*time.Second, func() error {
		msgID++
		r := request(t, alice.c, cmdRank, rankTop, msgID, &rankpb.Top{Query: &rankpb.Query{BoardId: "arena"}})
		if r.ResponseStatus != 0 {
			return fmt.Errorf("status %d %s", r.ResponseStatus, r.GetValidMsg())
		}
		return nil
	})
	if got := top(); len(got) != 2 || got[0] != bob.id {
		t.Fatalf("top after restart %v", got)
	}

	// Everything lives in Redis: the accounts, the guild and the board.
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	for _, pattern := range []string{"iogo:{login_accounts}:*", "iogo:{guild}:*", "iogo:rank:*"} {
		keys, err := rdb.Keys(context.Background(), pattern).Result()
		if err != nil || len(keys) == 0 {
			t.Errorf("no Redis keys %s: %v", pattern, err)
		}
	}
}
