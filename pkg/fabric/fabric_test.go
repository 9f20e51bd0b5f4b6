package fabric

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestSubjects(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"request", Request(1, 0), "iogo.req.1.0"},
		{"instance", Instance("abc", 3, 12), "iogo.inst.abc.3.12"},
		{"all", All(7, 2), "iogo.all.7.2"},
		{"push", UserPush(42), "iogo.user.42.push"},
		{"control", UserControl(-5), "iogo.user.-5.ctl"},
		{"event", Event("guild.joined"), "iogo.event.guild.joined"},
		{"external", External(9), "iogo.ext.9"},
		{"inbox", GateInbox("g1"), "_INBOX.iogo.g1.*"},
		{"reply", GateReply("g1", 77), "_INBOX.iogo.g1.77"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestReplyToken(t *testing.T) {
	tests := []struct {
		name    string
		subject string
		want    uint64
		ok      bool
	}{
		{"valid", GateReply("gate-1", 12345), 12345, true},
		{"max", GateReply("g", ^uint64(0)), ^uint64(0), true},
		{"no dot", "abc", 0, false},
		{"trailing dot", "_INBOX.iogo.g.", 0, false},
		{"not a number", "_INBOX.iogo.g.x1", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ReplyToken(tt.subject)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("ReplyToken(%q) = %d, %v; want %d, %v", tt.subject, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestMetaRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		meta Meta
	}{
		{"anonymous", Meta{Cmd: 1, Sub: 0, Session: 9, Gate: "g", MsgID: 7}},
		{"user json", Meta{Cmd: 300, Sub: 65535, UserID: 1 << 40, Session: 1, Gate: "g2", MsgID: -3, Codec: "json", Attrs: "room=7&team=red"}},
		{"server-to-server call", Meta{Cmd: 2, Sub: 1, UserID: 5, MsgID: -99, Depth: 3, Timeout: 1500 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMeta(tt.meta.Header())
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.meta {
				t.Fatalf("got %+v, want %+v", got, tt.meta)
			}
		})
	}
}

func TestParseMetaErrors(t *testing.T) {
	tests := []struct {
		name string
		h    nats.Header
	}{
		{"no route", nats.Header{}},
		{"bad route", nats.Header{HeaderRoute: {"x"}}},
		{"bad user", nats.Header{HeaderRoute: {"1"}, HeaderUser: {"1.5"}}},
		{"bad session", nats.Header{HeaderRoute: {"1"}, HeaderSession: {"-1"}}},
		{"route overflow", nats.Header{HeaderRoute: {"99999999999"}}},
		{"bad depth", nats.Header{HeaderRoute: {"1"}, HeaderDepth: {"deep"}}},
		{"bad timeout", nats.Header{HeaderRoute: {"1"}, HeaderTimeout: {"soon"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseMeta(tt.h); err == nil {
				t.Fatal("expected an error")
			}
		})
	}
}

func TestReplyRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		reply Reply
	}{
		{"ok", Reply{}},
		{"error", Reply{Status: -1004, Error: "login required"}},
		{"void", Reply{Void: true}},
		{"instance", Reply{Instance: "logic-1"}},
		{"instance error", Reply{Instance: "logic-1", Status: 7, Error: "no"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseReply(tt.reply.Header())
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.reply {
				t.Fatalf("got %+v, want %+v", got, tt.reply)
			}
		})
	}
	if (&Reply{}).Header() != nil {
		t.Fatal("a plain success must carry no headers")
	}
}

func TestIsNoResponders(t *testing.T) {
	if !IsNoResponders(&nats.Msg{Header: nats.Header{"Status": {"503"}}}) {
		t.Fatal("503 with no data is a no-responders notice")
	}
	if IsNoResponders(&nats.Msg{Data: []byte("x"), Header: nats.Header{"Status": {"503"}}}) {
		t.Fatal("a message with data is a real reply")
	}
}

func TestIsAll(t *testing.T) {
	if !IsAll(All(3, 4)) || IsAll(Request(3, 4)) || IsAll(Instance("x", 3, 4)) {
		t.Fatal("IsAll must match exactly the subjects All makes")
	}
}
