package logic_test

import (
	"context"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
	demopb "github.com/iogo-dev/iogo/proto/demo"
)

// A chat room: joining binds the player to this instance (the room's state
// lives here), the room's member list is touched only on the room's
// executor, and a line is pushed to every member.
func Example_room() {
	members := map[string][]int64{} // room → users; only on the room's key

	r := route.NewRouter()
	g := r.Group(30)
	chatLine := route.DeclarePush[*demopb.EchoMsg](g, 100, route.Doc("A line said in the room."))
	route.Handle(g, 0, func(c *logic.Ctx, room string) (bool, error) {
		if err := c.BindHere(); err != nil { // later requests of this user come here
			return false, err
		}
		if err := c.SetAttr("room", room); err != nil { // carried by later requests
			return false, err
		}
		user := c.UserID()
		err := c.ExecWait(room, func(context.Context) { members[room] = append(members[room], user) })
		return err == nil, err
	})
	route.HandleVoid(g, 1, func(c *logic.Ctx, text string) error {
		room := c.Attr("room")
		if room == "" {
			return errs.New(1, "join a room first")
		}
		msg := &demopb.EchoMsg{Text: text, Seq: c.UserID()}
		cl := c.Client() // the Ctx is not valid once the handler returns
		return c.Exec(room, func(ctx context.Context) {
			_ = cl.PushTo(ctx, members[room], chatLine.Cmd, chatLine.Sub, msg)
		})
	})
	_, _ = logic.New(logic.Config{Service: "chat", Router: r})
}
