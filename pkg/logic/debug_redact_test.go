package logic

import (
	"strings"
	"testing"

	loginpb "github.com/iogo-dev/iogo/proto/login"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// TestDebugRedact checks that fields marked [debug_redact = true] never
// reach the debug block, in either codec and in nested messages.
func TestDebugRedact(t *testing.T) {
	d := newDebugOut(&DebugConfig{})
	secret := "hunter2-secret"
	tests := []struct {
		name     string
		msg      proto.Message
		want     []string // substrings of the block's rendering
		wantNone string
	}{
		{"password", &loginpb.Register{Username: "ann", Password: secret},
			[]string{`"username":"ann"`, `"password":"[redacted]"`}, secret},
		{"nested tokens", &loginpb.User{Id: 7, Tokens: &loginpb.Tokens{Token: secret, RefreshToken: secret, TokenExpiresMs: 5}},
			[]string{`"id":"7"`, `"token":"[redacted]"`, `"tokenExpiresMs":"5"`}, secret},
		{"unmarked fields stay", &loginpb.Logout{All: true}, []string{`"all":true`}, "[redacted]"},
	}
	for _, tt := range tests {
		name := string(tt.msg.ProtoReflect().Descriptor().FullName())
		pb, err := proto.Marshal(tt.msg)
		if err != nil {
			t.Fatal(err)
		}
		js, err := protojson.Marshal(tt.msg)
		if err != nil {
			t.Fatal(err)
		}
		for _, enc := range []struct {
			codec string
			data  []byte
		}{{"protobuf", pb}, {"json", js}} {
			t.Run(tt.name+"/"+enc.codec, func(t *testing.T) {
				got := strings.ReplaceAll(d.payload(name, enc.data, enc.codec), " ", "")
				for _, w := range tt.want {
					if !strings.Contains(got, w) {
						t.Errorf("%s lacks %s", got, w)
					}
				}
				if strings.Contains(got, tt.wantNone) {
					t.Errorf("%s shows %q", got, tt.wantNone)
				}
			})
		}
	}
}
