package tests

import (
	"strings"
	"testing"

	"github.com/iogo-dev/iogo/pkg/errs"
	loginpb "github.com/iogo-dev/iogo/proto/login"
	"google.golang.org/protobuf/types/known/emptypb"
)

// TestValidationEndToEnd: through a real gate and `iogo dev`, a Register
// whose username breaks its buf.validate rule (proto/login/login.proto)
// is answered -1001 with the field and the rule in valid_msg, and the
// handler does not run: the connection is still not logged in. A nickname
// over its 64-character rule is refused the same way on GuestLogin, which
// (trimming spaces first) would otherwise log the connection in. A valid
// request reaches the handler.
func TestValidationEndToEnd(t *testing.T) {
	cl := startDev(t)
	c := dialSpec(t, cl.tcp)
	defer c.close()
	const whoAmI = 1
	msgID := int32(0)
	call := func(sub int32, req *loginpb.Register) (int32, string) {
		msgID++
		resp := request(t, c, cmdLogin, sub, msgID, req)
		return resp.ResponseStatus, resp.GetValidMsg()
	}
	notLoggedIn := func() {
		t.Helper()
		msgID++
		if resp := request(t, c, cmdLogin, whoAmI, msgID, &emptypb.Empty{}); resp.ResponseStatus != errs.CodeLoginRequired {
			t.Fatalf("WhoAmI after a refused login: status %d %q, want %d (not logged in)",
				resp.ResponseStatus, resp.GetValidMsg(), errs.CodeLoginRequired)
		}
	}

	code, msg := call(loginRegister, &loginpb.Register{Username: "al", Password: "a long enough password"})
	if code != errs.CodeValidation || !strings.Contains(msg, "username: ") || !strings.Contains(msg, "[string.min_len]") {
		t.Fatalf("Register with a 2-character username: status %d %q, want %d naming username and string.min_len",
			code, msg, errs.CodeValidation)
	}
	notLoggedIn()

	// Would log in if the handler ran (it trims the nickname to 64).
	msgID++
	guest := &loginpb.GuestLogin{DeviceId: "validation-dev", Nickname: "  " + strings.Repeat("n", 64) + "  "}
	resp := request(t, c, cmdLogin, 0, msgID, guest)
	if resp.ResponseStatus != errs.CodeValidation || !strings.Contains(resp.GetValidMsg(), "nickname: ") ||
		!strings.Contains(resp.GetValidMsg(), "[string.max_len]") {
		t.Fatalf("GuestLogin with a 68-character nickname: status %d %q, want %d naming nickname and string.max_len",
			resp.ResponseStatus, resp.GetValidMsg(), errs.CodeValidation)
	}
	notLoggedIn()

	// A valid request passes the rules and reaches the handler.
	msgID++
	guest.Nickname = "ann"
	u := decode(t, request(t, c, cmdLogin, 0, msgID, guest), &loginpb.User{})
	if u.Id == 0 || u.Nickname != "ann" {
		t.Fatalf("valid GuestLogin: %v", u)
	}
}
