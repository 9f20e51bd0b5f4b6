// Package demo is the demo service that `iogo dev` serves: a greeting, an
// echo, bare-value routes, an error route and a chat broadcast (a
// request/void route that pushes to every client) — the smallest useful
// tour of the programming model. Its routes are public: they work before
// login.
package demo

import (
	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
	demopb "github.com/iogo-dev/iogo/proto/demo"
)

// Service is the service name, and the queue group of its instances.
const Service = "demo"

// Cmd is the route cmd of the demo service.
const Cmd int32 = 2

// Routes of the demo service.
const (
	SubHello int32 = 0 // HelloReq → HelloResp
	SubEcho  int32 = 1 // EchoMsg → EchoMsg
	SubSum   int32 = 2 // []int64 → int64
	SubFail  int32 = 3 // int32 code → an error with that code
	SubChat  int32 = 4 // EchoMsg → (void); pushes it to everyone on SubChatPush
	// SubChatPush is the push route of chat lines.
	SubChatPush int32 = 5
)

// Router returns the routes of the demo service.
func Router() *route.Router {
	r := route.NewRouter()
	g := r.Group(Cmd)
	route.Handle(g, SubHello, hello, route.Public(), route.Doc("Greets the caller by name."))
	route.Handle(g, SubEcho, echo, route.Public(), route.Doc("Returns the message unchanged."))
	route.Handle(g, SubSum, sum, route.Public(), route.Doc("Adds a list of numbers."))
	route.Handle(g, SubFail, fail, route.Public(), route.Doc("Fails with the given positive application error code."))
	route.HandleVoid(g, SubChat, chat, route.Public(),
		route.Doc("Broadcasts a chat line to every connected client (push 2-5); no response."))
	route.DeclarePush[*demopb.EchoMsg](g, SubChatPush, route.Doc("A chat line someone broadcast with 2-4."))
	return r
}

// maxChat is the longest chat line accepted, in bytes.
const maxChat = 512

func chat(c *logic.Ctx, m *demopb.EchoMsg) error {
	if len(m.Text) == 0 || len(m.Text) > maxChat {
		return errs.ErrValidation.WithMsg("demo: chat text must be 1..512 bytes")
	}
	return c.PushAll(Cmd, SubChatPush, m)
}

func hello(c *logic.Ctx, req *demopb.HelloReq) (*demopb.HelloResp, error) {
	name := req.Name
	if name == "" {
		name = "world"
	}
	return &demopb.HelloResp{Text: "hello, " + name}, nil
}

func echo(_ *logic.Ctx, m *demopb.EchoMsg) (*demopb.EchoMsg, error) { return m, nil }

func sum(_ *logic.Ctx, xs []int64) (int64, error) {
	var s int64
	for _, x := range xs {
		s += x
	}
	return s, nil
}

func fail(_ *logic.Ctx, code int32) (bool, error) {
	if code <= 0 {
		return false, errs.ErrValidation.WithMsg("demo: code must be positive")
	}
	return false, errs.Newf(code, "demo failure %d", code)
}
