package fabric

import "testing"

func TestValidTopic(t *testing.T) {
	tests := []struct {
		name  string
		topic string
		ok    bool
	}{
		{"one token", "login", true},
		{"tokens", "guild.member-joined.v2", true},
		{"underscore", "player_login", true},
		{"empty", "", false},
		{"empty token", "a..b", false},
		{"leading dot", ".a", false},
		{"trailing dot", "a.", false},
		{"wildcard", "a.*", false},
		{"full wildcard", "a.>", false},
		{"space", "a b", false},
		{"not ascii", "gilde.größe", false},
		{"too long", string(make([]byte, MaxTopicLen+1)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ValidTopic(tt.topic); (err == nil) != tt.ok {
				t.Fatalf("ValidTopic(%q) = %v, want ok %v", tt.topic, err, tt.ok)
			}
		})
	}
}

func TestEventNames(t *testing.T) {
	if got := EventStream("guild.member-joined"); got != "IOGO_EVENT_guild_member-joined" {
		t.Fatalf("stream %q", got)
	}
	if got := EventConsumer("rank"); got != "rank" {
		t.Fatalf("consumer %q", got)
	}
}

func TestEventMetaRoundTrip(t *testing.T) {
	for _, m := range []EventMeta{{}, {Type: "demo.EchoMsg"}, {Type: "iohao.LongValue", UserID: 1 << 40}} {
		got, err := ParseEventMeta(m.Header())
		if err != nil || got != m {
			t.Fatalf("got %+v, %v; want %+v", got, err, m)
		}
	}
	if _, err := ParseEventMeta(map[string][]string{HeaderUser: {"x"}}); err == nil {
		t.Fatal("a bad user header must fail")
	}
}
