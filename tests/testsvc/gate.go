package main

import (
	"os"
	"strconv"
	"strings"

	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
	demopb "github.com/iogo-dev/iogo/proto/demo"
)

// cmdGate is the cmd of the external-server (gate) test routes.
const cmdGate int32 = 21

// Routes of cmd 21. Requests and responses are bare values.
const (
	gateLogin    int32 = 0   // public: int64 user → int64; binds the session
	gateWhoami   int32 = 1   // login: → int64 user
	gateInternal int32 = 2   // internal: → "internal"
	gateAttrs    int32 = 3   // public: → the request's session attributes, URL-query form
	gateSetAttr  int32 = 4   // public: "k=v" → bool; on the caller's session ("k=" deletes)
	gatePushSelf int32 = 5   // login: string → bool; pushes EchoMsg{Text} to the caller
	gatePushTo   int32 = 6   // login: []string{text, user...} → bool; pushes EchoMsg{Text} to each user
	gateBindHere int32 = 7   // login: → string instance; binds the caller to this instance
	gateV2       int32 = 8   // public, only with IOGO_TESTSVC_GATE_V2=1: → "v2"
	gatePush     int32 = 100 // push route: demo.EchoMsg
)

// registerGate registers the routes of the gate tests: access rules,
// login, attributes, typed pushes and logic bindings. The environment
// variable IOGO_TESTSVC_GATE_V2=1 adds route 21-8, as a new version of
// the service would.
func registerGate(r *route.Router) {
	g := r.Group(cmdGate)
	route.DeclarePush[*demopb.EchoMsg](g, gatePush, route.Doc("Gate test pushes."))
	route.Handle(g, gateLogin, func(c *logic.Ctx, user int64) (int64, error) {
		if err := c.Bind(user); err != nil {
			return 0, err
		}
		return c.UserID(), nil
	}, route.Public())
	route.Handle(g, gateWhoami, func(c *logic.Ctx, _ string) (int64, error) { return c.UserID(), nil })
	route.Handle(g, gateInternal, func(c *logic.Ctx, _ string) (string, error) { return "internal", nil }, route.Internal())
	route.Handle(g, gateAttrs, func(c *logic.Ctx, _ string) (string, error) { return c.Attrs().Encode(), nil }, route.Public())
	route.Handle(g, gateSetAttr, func(c *logic.Ctx, kv string) (bool, error) {
		k, v, _ := strings.Cut(kv, "=")
		return true, c.SetAttr(k, v)
	}, route.Public())
	route.Handle(g, gatePushSelf, func(c *logic.Ctx, text string) (bool, error) {
		return true, c.Push(cmdGate, gatePush, &demopb.EchoMsg{Text: text})
	})
	route.Handle(g, gatePushTo, func(c *logic.Ctx, args []string) (bool, error) {
		var users []int64
		for _, a := range args[1:] {
			u, err := strconv.ParseInt(a, 10, 64)
			if err != nil {
				return false, err
			}
			users = append(users, u)
		}
		return true, c.PushTo(users, cmdGate, gatePush, &demopb.EchoMsg{Text: args[0]})
	})
	route.Handle(g, gateBindHere, func(c *logic.Ctx, _ string) (string, error) {
		return c.InstanceID(), c.BindHere()
	})
	if os.Getenv("IOGO_TESTSVC_GATE_V2") == "1" {
		route.Handle(g, gateV2, func(c *logic.Ctx, _ string) (string, error) { return "v2", nil }, route.Public())
	}
}
