package guild

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/broker/brokertest"
	"github.com/iogo-dev/iogo/pkg/svcmain/svctest"
	guildpb "github.com/iogo-dev/iogo/proto/guild"
)

// BenchmarkJoinContention: one op is a crowd of 200 players joining a
// guild with 50 free slots at once (50 get in, 150 are refused), through
// the service API on the broker's JetStream store: on compare-and-set
// alone, on one instance (keyed executor + CAS), and spread over two
// instances. ns/op is per crowd; ns/join per join attempt.
func BenchmarkJoinContention(b *testing.B) {
	const crowd, free = 200, 50
	for _, be := range svctest.Backends() {
		for _, mode := range []string{"cas-only", "one-instance", "two-instances"} {
			b.Run(be.Name+"/"+mode, func(b *testing.B) {
				br := brokertest.Start(b, broker.Config{})
				st := be.Open(b, br)
				var gs []*Guilds
				switch mode {
				case "cas-only":
					g, _ := newGuilds(b, st, Config{})
					gs = []*Guilds{g}
				case "one-instance":
					gs = []*Guilds{startInstance(b, br, st, Config{}).m.Guilds()}
				default:
					gs = []*Guilds{startInstance(b, br, st, Config{}).m.Guilds(), startInstance(b, br, st, Config{}).m.Guilds()}
				}
				ctx := context.Background()
				b.ReportAllocs()
				n := 0
				for b.Loop() {
					n++
					base := int64(n) * 1_000_000
					gd, err := gs[0].Create(ctx, base, &guildpb.CreateGuild{Name: fmt.Sprintf("crowd %d", n), Open: true, MaxMembers: free + 1})
					if err != nil {
						b.Fatal(err)
					}
					var ok atomic.Int32
					var wg sync.WaitGroup
					start := make(chan struct{})
					for i := range crowd {
						wg.Go(func() {
							<-start
							_, err := gs[i%len(gs)].Join(ctx, base+1+int64(i), gd.Id)
							switch {
							case err == nil:
								ok.Add(1)
							case !errors.Is(err, ErrGuildFull):
								b.Error(err)
							}
						})
					}
					close(start)
					wg.Wait()
					if ok.Load() != free {
						b.Fatalf("%d joined", ok.Load())
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*crowd), "ns/join")
			})
		}
	}
}
