package guild

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/client"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/store"
	"github.com/iogo-dev/iogo/pkg/svcmain/svctest"
	guildpb "github.com/iogo-dev/iogo/proto/guild"
	"google.golang.org/protobuf/types/known/emptypb"
)

func TestChatLimiter(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	type try struct {
		at   time.Duration // after t0
		user int64
		ok   bool
		wait time.Duration // when refused
	}
	tests := []struct {
		name  string
		rate  float64
		burst int
		tries []try
	}{
		{"burst, then refused", 1, 2, []try{{0, 1, true, 0}, {0, 1, true, 0}, {0, 1, false, time.Second}}},
		{"refills at the rate", 2, 1, []try{{0, 1, true, 0}, {100 * time.Millisecond, 1, false, 400 * time.Millisecond}, {500 * time.Millisecond, 1, true, 0}}},
		{"users apart", 1, 1, []try{{0, 1, true, 0}, {0, 2, true, 0}, {0, 1, false, time.Second}, {0, 2, false, time.Second}}},
		{"refused lines take nothing", 1, 1, []try{{0, 1, true, 0}, {0, 1, false, time.Second}, {0, 1, false, time.Second}, {time.Second, 1, true, 0}}},
		{"off", -1, 0, []try{{0, 1, true, 0}, {0, 1, true, 0}, {0, 1, true, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newChatLimiter(tt.rate, tt.burst)
			for i, tr := range tt.tries {
				wait, ok := l.allow(tr.user, t0.Add(tr.at))
				if ok != tr.ok || (!ok && wait != tr.wait) {
					t.Fatalf("try %d: ok %v, wait %v; want %v, %v", i, ok, wait, tr.ok, tr.wait)
				}
			}
		})
	}
}

// TestChatLimiterForgetsIdleUsers: a bucket that refilled is dropped at
// the next sweep, so the limiter holds only recent chatters.
func TestChatLimiterForgetsIdleUsers(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	refill := time.Duration(DefaultChatBurst/DefaultChatRate) * time.Second
	tests := []struct {
		name  string
		after time.Duration // the next line, by another user
		want  int           // buckets held after it
	}{
		{"before the refill", refill - time.Millisecond, 1000 + 2},
		{"refilled", refill, 1 + 1},       // the busy user, still refilling, and the new one
		{"long idle", 10 * refill, 0 + 1}, // only the new one
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newChatLimiter(DefaultChatRate, DefaultChatBurst)
			for u := range int64(1000) {
				l.allow(u, t0)
			}
			for range DefaultChatBurst { // a busy user empties its bucket late
				l.allow(5000, t0.Add(refill-time.Second))
			}
			l.allow(9999, t0.Add(tt.after))
			if got := l.size(); got != tt.want {
				t.Fatalf("%d buckets, want %d", got, tt.want)
			}
		})
	}
}

// chatter is a player of TestChatRateLimit.
type chatter struct {
	id int64
	c  *client.Client
}

// TestChatRateLimit chats through a gate and one guild instance with a
// frozen clock: lines over the sender's limit are refused with 1214, and
// neither pushed nor kept.
func TestChatRateLimit(t *testing.T) {
	type line struct {
		wait time.Duration // the clock advances first
		from int           // 0: alice, 1: bob
		ok   bool          // accepted, else ErrChatRateLimited
	}
	repeat := func(n int, l line) []line {
		out := make([]line, n)
		for i := range out {
			out[i] = l
		}
		return out
	}
	tests := []struct {
		name  string
		rate  float64
		burst int
		lines []line
	}{
		{"burst, then refused", 1, 3, append(repeat(3, line{ok: true}), repeat(2, line{})...)},
		{"refill", 1, 2, []line{{ok: true}, {ok: true}, {}, {wait: time.Second, ok: true}, {}, {wait: time.Second / 2}, {wait: time.Second / 2, ok: true}}},
		{"per user", 1, 1, []line{{ok: true}, {}, {from: 1, ok: true}, {from: 1}, {wait: time.Second, ok: true}}},
		{"slow rate", 0.5, 1, []line{{ok: true}, {wait: time.Second}, {wait: time.Second, ok: true}}},
		{"defaults", 0, 0, append(repeat(DefaultChatBurst, line{ok: true}), line{})},
		{"off", -1, 0, repeat(20, line{ok: true})},
	}
	forEachBackend(t, func(t *testing.T, b *broker.Broker, st store.Opener) {
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				clk := svctest.NewClock()
				startInstance(t, b, st, Config{ChatRate: tt.rate, ChatBurst: tt.burst, Bucket: fmt.Sprintf("chat%d", i), Now: clk.Now})
				svctest.Logic(t, b, logic.Config{Service: "testlogin", Router: svctest.LoginRouter(), Logger: testLogger()})
				gate := svctest.Gate(t, b)
				ps := []chatter{{1, player(t, gate, 1)}, {2, player(t, gate, 2)}}
				gd, err := call[*guildpb.CreateGuild, *guildpb.Guild](t, ps[0].c, SubCreate, &guildpb.CreateGuild{Name: "Chatters", Open: true})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := call[*guildpb.GuildRef, *guildpb.JoinResult](t, ps[1].c, SubJoin, &guildpb.GuildRef{GuildId: gd.Id}); err != nil {
					t.Fatal(err)
				}
				say := func(p chatter, text string) error {
					_, err := call[*guildpb.ChatSend, *guildpb.ChatMessage](t, p.c, SubChat, &guildpb.ChatSend{Text: text})
					return err
				}

				var accepted []string
				for j, l := range tt.lines {
					clk.Advance(l.wait)
					text := fmt.Sprintf("line %d", j)
					err := say(ps[l.from], text)
					switch {
					case l.ok && err != nil:
						t.Fatalf("line %d: %v", j, err)
					case l.ok:
						accepted = append(accepted, text)
					case !errors.Is(err, ErrChatRateLimited) || !strings.Contains(err.Error(), "retry after"):
						t.Fatalf("line %d: %v, want code %d with a retry-after", j, err, ErrChatRateLimited.Code)
					}
				}
				// A last line once the buckets refilled; every member got
				// the accepted lines before it, and nothing else.
				clk.Advance(time.Hour)
				if err := say(ps[0], "end"); err != nil {
					t.Fatal(err)
				}
				want := append(accepted, "end")
				for _, p := range ps {
					var got []string
					for len(got) == 0 || got[len(got)-1] != "end" {
						m := waitPush(t, p.c, SubChatPush, func() *guildpb.ChatMessage { return new(guildpb.ChatMessage) },
							func(*guildpb.ChatMessage) bool { return true })
						got = append(got, m.Text)
					}
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Fatalf("user %d got pushes %q, want %q", p.id, got, want)
					}
				}
				h, err := call[*emptypb.Empty, *guildpb.ChatHistory](t, ps[1].c, SubHistory, &emptypb.Empty{})
				if err != nil {
					t.Fatal(err)
				}
				var kept []string
				for _, m := range h.Messages {
					kept = append(kept, m.Text)
				}
				if fmt.Sprint(kept) != fmt.Sprint(want) {
					t.Fatalf("history %q, want %q", kept, want)
				}
			})
		}
	})
}

// TestChatRateLimitInstances: a user's lines are spread over the
// instances by the queue group and each instance has its own buckets, so
// with N instances a user gets between one and N bursts.
func TestChatRateLimitInstances(t *testing.T) {
	const instances, burst, lines = 2, 2, 12
	forEachBackend(t, func(t *testing.T, b *broker.Broker, st store.Opener) {
		clk := svctest.NewClock()
		for range instances {
			startInstance(t, b, st, Config{ChatRate: 1, ChatBurst: burst, Now: clk.Now})
		}
		svctest.Logic(t, b, logic.Config{Service: "testlogin", Router: svctest.LoginRouter(), Logger: testLogger()})
		alice := player(t, svctest.Gate(t, b), 1)
		if _, err := call[*guildpb.CreateGuild, *guildpb.Guild](t, alice, SubCreate, &guildpb.CreateGuild{Name: "Spread"}); err != nil {
			t.Fatal(err)
		}
		ok := 0
		for i := range lines {
			_, err := call[*guildpb.ChatSend, *guildpb.ChatMessage](t, alice, SubChat, &guildpb.ChatSend{Text: fmt.Sprint(i)})
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, ErrChatRateLimited):
				t.Fatal(err)
			}
		}
		if ok < burst || ok > instances*burst {
			t.Fatalf("%d of %d lines accepted, want %d..%d", ok, lines, burst, instances*burst)
		}
	})
}
