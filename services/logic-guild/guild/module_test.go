package guild

import (
	"errors"
	"flag"
	"testing"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/store"
	guildpb "github.com/iogo-dev/iogo/proto/guild"
)

// TestOpenWithoutServer opens the module with no logic server and no
// logger: no executor, no notifications, logs discarded.
func TestOpenWithoutServer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ *broker.Broker, st store.Opener) {
		m := New(Config{})
		if err := m.Open(ctxT(t), nil, st); err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if _, err := m.Guilds().Create(ctxT(t), 7, &guildpb.CreateGuild{Name: "no server"}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRouter(t *testing.T) {
	r := New(Config{}).Router()
	routes, err := r.Routes()
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 21 {
		t.Fatalf("%d routes", len(routes))
	}
	for _, rt := range routes {
		if rt.Cmd != Cmd || rt.Doc == "" {
			t.Fatalf("route %d-%d: cmd or doc missing", rt.Cmd, rt.Sub)
		}
	}
	if ps := r.(logic.PushSource).Pushes(); len(ps) != 2 {
		t.Fatalf("pushes %v", ps)
	}
	// Before Open, handlers answer "not ready" instead of crashing.
	if _, err := New(Config{}).guilds(); !errors.Is(err, errNotOpen) {
		t.Fatalf("guilds before Open: %v", err)
	}
	if err := New(Config{}).Close(); err != nil {
		t.Fatalf("Close before Open: %v", err)
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr bool
		check   func(Config) bool
	}{
		{"defaults", nil, false, func(c Config) bool {
			return c.DefaultMaxMembers == DefaultMaxMembers && c.MaxMembersLimit == DefaultMaxMembersLimit &&
				c.ChatHistory == DefaultChatHistory && c.Bucket == DefaultBucket && c.ClaimGrace == DefaultClaimGrace &&
				c.ChatRate == DefaultChatRate && c.ChatBurst == DefaultChatBurst
		}},
		{"chat limit", []string{"-chat-rate", "0.25", "-chat-burst", "3"}, false,
			func(c Config) bool { return c.ChatRate == 0.25 && c.ChatBurst == 3 }},
		{"chat limit off", []string{"-chat-rate", "-1"}, false,
			func(c Config) bool { return c.ChatRate < 0 && newChatLimiter(c.ChatRate, c.ChatBurst) == nil }},
		{"negative chat burst", []string{"-chat-burst", "-1"}, true, nil},
		{"no burst without a limit", []string{"-chat-rate", "-1", "-chat-burst", "-1"}, false,
			func(c Config) bool { return newChatLimiter(c.ChatRate, c.ChatBurst) == nil }},
		{"flags", []string{"-default-max-members", "80", "-max-members-limit", "100", "-chat-history", "-1", "-bucket", "g2"}, false,
			func(c Config) bool {
				return c.DefaultMaxMembers == 80 && c.MaxMembersLimit == 100 && c.ChatHistory == -1 && c.Bucket == "g2"
			}},
		{"default above limit", []string{"-default-max-members", "600"}, true, nil},
		{"limit too high", []string{"-max-members-limit", "20000"}, true, nil},
		{"negative grace", []string{"-claim-grace", "-1s"}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("guild", flag.ContinueOnError)
			m := FromFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := m.cfg.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && !tt.check(m.cfg) {
				t.Fatalf("config %+v", m.cfg)
			}
		})
	}
}
