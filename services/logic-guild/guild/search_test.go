package guild

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/store"
	"github.com/iogo-dev/iogo/pkg/svcmain/svctest"
	guildpb "github.com/iogo-dev/iogo/proto/guild"
	"google.golang.org/protobuf/proto"
)

func names(p *guildpb.GuildPage) []string {
	var out []string
	for _, g := range p.Guilds {
		out = append(out, g.Name)
	}
	return out
}

func TestSearch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ *broker.Broker, st store.Opener) {
		// Guilds are written through one instance and searched on another,
		// whose index learns them from the store watch.
		w, _ := newGuilds(t, st, Config{})
		r, _ := newGuilds(t, st, Config{})
		ctx := ctxT(t)
		specs := []struct {
			name string
			open bool
			lang string
			max  int32
		}{
			{"Alpha", true, "en", 2},
			{"alpine club", false, "EN", 10},
			{"Alps", true, "fr", 10},
			{"Beta", true, "en", 10},
			{"Alpaca", true, "", 1}, // full: its creator is its only slot
		}
		for i, s := range specs {
			must(w.Create(ctx, int64(i+1), &guildpb.CreateGuild{Name: s.name, Open: s.open, Language: s.lang, MaxMembers: s.max}))(t)
		}
		svctest.Eventually(t, "search results", func() error {
			if n := r.idx.len(); n != len(specs) {
				return fmt.Errorf("index of the other instance has %d guilds", n)
			}
			return nil
		})
		tests := []struct {
			name string
			q    *guildpb.SearchGuilds
			want []string
		}{
			{"all", &guildpb.SearchGuilds{}, []string{"Alpaca", "Alpha", "alpine club", "Alps", "Beta"}},
			{"prefix any case", &guildpb.SearchGuilds{NamePrefix: "ALP"}, []string{"Alpaca", "Alpha", "alpine club", "Alps"}},
			{"prefix with space", &guildpb.SearchGuilds{NamePrefix: "alpine  c"}, []string{"alpine club"}},
			{"prefix trailing space", &guildpb.SearchGuilds{NamePrefix: "alpine "}, []string{"alpine club"}},
			{"open only", &guildpb.SearchGuilds{NamePrefix: "alp", Open: proto.Bool(true)}, []string{"Alpaca", "Alpha", "Alps"}},
			{"closed only", &guildpb.SearchGuilds{Open: proto.Bool(false)}, []string{"alpine club"}},
			{"free slots", &guildpb.SearchGuilds{NamePrefix: "alp", HasFreeSlots: true}, []string{"Alpha", "alpine club", "Alps"}},
			{"language any case", &guildpb.SearchGuilds{Language: "en"}, []string{"Alpha", "alpine club", "Beta"}},
			{"all filters", &guildpb.SearchGuilds{NamePrefix: "a", Open: proto.Bool(true), HasFreeSlots: true, Language: "En"}, []string{"Alpha"}},
			{"no match", &guildpb.SearchGuilds{NamePrefix: "zz"}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p := must(r.Search(tt.q))(t)
				if got := names(p); !slices.Equal(got, tt.want) || p.NextCursor != "" {
					t.Fatalf("got %v (cursor %q), want %v", got, p.NextCursor, tt.want)
				}
			})
		}

		t.Run("pages", func(t *testing.T) {
			var got []string
			q := &guildpb.SearchGuilds{NamePrefix: "al", Limit: 2}
			pages := 0
			for {
				p := must(r.Search(q))(t)
				pages++
				got = append(got, names(p)...)
				if p.NextCursor == "" {
					break
				}
				q.Cursor = p.NextCursor
			}
			if want := []string{"Alpaca", "Alpha", "alpine club", "Alps"}; !slices.Equal(got, want) || pages != 2 {
				t.Fatalf("got %v in %d pages, want %v in 2", got, pages, want)
			}
		})

		t.Run("bad input", func(t *testing.T) {
			for _, q := range []*guildpb.SearchGuilds{
				{Limit: 101}, {Limit: -1}, {Cursor: "!!"}, {NamePrefix: "b", Cursor: "YQ"},
				{NamePrefix: strings.Repeat("x", 200)},
			} {
				if _, err := r.Search(q); !errors.Is(err, errs.ErrValidation) {
					t.Fatalf("%v: %v", q, err)
				}
			}
		})

		t.Run("follows changes", func(t *testing.T) {
			alps := must(w.Mine(ctx, 3))(t)
			must(w.Join(ctx, 20, alps.Id))(t)
			must(w.Update(ctx, 3, &guildpb.UpdateGuild{Language: proto.String("de"), MaxMembers: proto.Int32(2)}))(t)
			if err := w.Disband(ctx, 4); err != nil { // Beta
				t.Fatal(err)
			}
			svctest.Eventually(t, "search results", func() error {
				p := must(r.Search(&guildpb.SearchGuilds{}))(t)
				if got := names(p); !slices.Equal(got, []string{"Alpaca", "Alpha", "alpine club", "Alps"}) {
					return fmt.Errorf("names %v", got)
				}
				g := p.Guilds[3]
				if g.Language != "de" || g.MemberCount != 2 || g.MaxMembers != 2 {
					return fmt.Errorf("alps %v", g)
				}
				return nil
			})
			p := must(r.Search(&guildpb.SearchGuilds{HasFreeSlots: true}))(t)
			if got := names(p); !slices.Equal(got, []string{"Alpha", "alpine club"}) {
				t.Fatalf("free slots after changes: %v", got)
			}
		})
	})
}

// BenchmarkSearch measures a prefix search with filters in an index of
// 100,000 guilds.
func BenchmarkSearch(b *testing.B) {
	x := newIndex()
	for i := range 100_000 {
		x.put(&guildpb.GuildRecord{Guild: &guildpb.Guild{Id: int64(i + 1), Name: fmt.Sprintf("guild %06d", i),
			Open: i%2 == 0, Language: []string{"en", "fr", "de"}[i%3], MaxMembers: 50, MemberCount: int32(i % 51)}})
	}
	q := &guildpb.SearchGuilds{NamePrefix: "guild 01", Open: proto.Bool(true), HasFreeSlots: true, Language: "en", Limit: 20}
	b.ReportAllocs()
	for b.Loop() {
		if p, err := x.search(q); err != nil || len(p.Guilds) != 20 {
			b.Fatal(len(p.Guilds), err)
		}
	}
}
