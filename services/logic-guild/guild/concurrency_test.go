package guild

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/store"
	guildpb "github.com/iogo-dev/iogo/proto/guild"
)

// joinCrowd makes users 1000..1000+n-1 join gid at once, user i through
// gs[i%len(gs)], and returns each one's error.
func joinCrowd(ctx context.Context, gs []*Guilds, gid int64, n int) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			res, err := gs[i%len(gs)].Join(ctx, int64(1000+i), gid)
			if err == nil && !res.Joined {
				err = fmt.Errorf("user %d: not joined", 1000+i)
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// checkCrowd checks that exactly free of the crowd joined, the others got
// ErrGuildFull, and that the store agrees.
func checkCrowd(t *testing.T, g *Guilds, gid int64, errList []error, free int) {
	t.Helper()
	ctx := ctxT(t)
	var ok, full int
	for i, err := range errList {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrGuildFull):
			full++
			if _, err := g.Mine(ctx, int64(1000+i)); !errors.Is(err, ErrNotInGuild) {
				t.Errorf("user %d was refused but is in a guild: %v", 1000+i, err)
			}
			if _, err := g.kv.Get(ctx, userKey(int64(1000+i))); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("user %d was refused but its claim is left: %v", 1000+i, err)
			}
		default:
			t.Errorf("user %d: %v", 1000+i, err)
		}
	}
	if ok != free || full != len(errList)-free {
		t.Fatalf("%d joined and %d got guild full; want %d and %d", ok, full, free, len(errList)-free)
	}
	ms := must(g.Members(ctx, gid))(t)
	if len(ms.Members) != free+1 {
		t.Fatalf("%d members stored, want %d", len(ms.Members), free+1)
	}
	for i, err := range errList {
		if err == nil {
			if got := must(g.Mine(ctx, int64(1000+i)))(t); got.Id != gid || got.MemberCount != int32(free+1) {
				t.Fatalf("user %d: guild %v", 1000+i, got)
			}
		}
	}
}

// TestConcurrentJoins: 200 users join a guild with 50 free slots (max 51,
// the creator included) at once: exactly 50 get in, the others get
// ErrGuildFull, on compare-and-set alone, on one instance's executor, and
// on two instances sharing the store.
func TestConcurrentJoins(t *testing.T) {
	const users, free = 200, 50
	forEachBackend(t, func(t *testing.T, b *broker.Broker, st store.Opener) {
		tests := []struct {
			name  string
			setup func(t *testing.T, cfg Config) []*Guilds
		}{
			{"compare-and-set only", func(t *testing.T, cfg Config) []*Guilds {
				g, _ := newGuilds(t, st, cfg)
				return []*Guilds{g}
			}},
			{"one instance", func(t *testing.T, cfg Config) []*Guilds {
				return []*Guilds{startInstance(t, b, st, cfg).m.Guilds()}
			}},
			{"two instances", func(t *testing.T, cfg Config) []*Guilds {
				return []*Guilds{startInstance(t, b, st, cfg).m.Guilds(), startInstance(t, b, st, cfg).m.Guilds()}
			}},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				gs := tt.setup(t, Config{Bucket: fmt.Sprintf("crowd%d", i)})
				ctx := ctxT(t)
				gd := must(gs[0].Create(ctx, 1, &guildpb.CreateGuild{Name: "Crowded", Open: true, MaxMembers: free + 1}))(t)
				checkCrowd(t, gs[0], gd.Id, joinCrowd(ctx, gs, gd.Id, users), free)
			})
		}
	})
}
