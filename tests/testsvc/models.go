package main

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
	demopb "github.com/iogo-dev/iogo/proto/demo"
)

// cmdModels is the cmd of the communication-model routes.
const cmdModels int32 = 22

// Routes of cmd 22. Requests and responses are bare values unless noted.
const (
	subLogin      int32 = 0  // int64 user → int64; binds the session (public)
	subPushTo     int32 = 1  // []int64 users → bool; pushes "to" to each
	subPushAll    int32 = 2  // string → bool; pushes it to everyone
	subPushSelf   int32 = 3  // string → bool; pushes it to the caller
	subVoid       int32 = 4  // string → (void); pushes "void:"+s to the caller; "fail" → error 4001
	subEcho       int32 = 5  // string → string
	subOnline     int32 = 6  // int64 user → bool
	subKick       int32 = 7  // int64 user → bool; kicks with -1007
	subSetAttr    int32 = 8  // "k=v" → bool; on the caller's session
	subAttr       int32 = 9  // k → v, from the request's attributes
	subSetUser    int32 = 10 // []string{user, "k=v"} → bool; another user's session
	subUserAttrs  int32 = 11 // int64 user → []string "k=v", sorted
	subBindHere   int32 = 12 // string → string instance; binds the caller here
	subUnbind     int32 = 13 // string → bool
	subRoomAppend int32 = 14 // []string{room, seq} → bool; appends on the room's executor
	subRoomLog    int32 = 15 // room → []string, read on the room's executor

	// subPush is the push route of every push these routes send: an
	// EchoMsg whose text says what it is.
	subPush int32 = 100
)

// rooms is state touched only on the executor of its key: no lock.
var rooms = map[string][]string{}

// registerModels registers the routes of the communication-model tests.
func registerModels(r *route.Router) {
	g := r.Group(cmdModels)
	route.DeclarePush[*demopb.EchoMsg](g, subPush, route.Doc("Test pushes."))
	route.Handle(g, subLogin, func(c *logic.Ctx, user int64) (int64, error) {
		if err := c.Bind(user); err != nil {
			return 0, err
		}
		return c.UserID(), nil
	}, route.Public())
	route.Handle(g, subPushTo, func(c *logic.Ctx, users []int64) (bool, error) {
		return true, c.PushTo(users, cmdModels, subPush, &demopb.EchoMsg{Text: "to", Seq: c.UserID()})
	})
	route.Handle(g, subPushAll, func(c *logic.Ctx, s string) (bool, error) {
		return true, c.PushAll(cmdModels, subPush, &demopb.EchoMsg{Text: s, Seq: c.UserID()})
	})
	route.Handle(g, subPushSelf, func(c *logic.Ctx, s string) (bool, error) {
		return true, c.Push(cmdModels, subPush, &demopb.EchoMsg{Text: s})
	})
	route.HandleVoid(g, subVoid, func(c *logic.Ctx, s string) error {
		if s == "fail" {
			return errs.New(4001, "void failed")
		}
		return c.Push(cmdModels, subPush, &demopb.EchoMsg{Text: "void:" + s})
	})
	route.Handle(g, subEcho, func(c *logic.Ctx, s string) (string, error) { return s, nil })
	route.Handle(g, subOnline, func(c *logic.Ctx, user int64) (bool, error) { return c.Online(user) })
	route.Handle(g, subKick, func(c *logic.Ctx, user int64) (bool, error) {
		return true, c.Kick(user, errs.CodeForcedOffline, "kicked by test")
	})
	route.Handle(g, subSetAttr, func(c *logic.Ctx, kv string) (bool, error) {
		k, v, _ := strings.Cut(kv, "=")
		return true, c.SetAttr(k, v)
	})
	route.Handle(g, subAttr, func(c *logic.Ctx, k string) (string, error) { return c.Attr(k), nil })
	route.Handle(g, subSetUser, func(c *logic.Ctx, args []string) (bool, error) {
		if len(args) != 2 {
			return false, errs.ErrValidation
		}
		user, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil {
			return false, errs.ErrValidation
		}
		k, v, _ := strings.Cut(args[1], "=")
		return true, c.Client().SetUserAttrs(c.Context(), user, map[string]string{k: v})
	})
	route.Handle(g, subUserAttrs, func(c *logic.Ctx, user int64) ([]string, error) {
		attrs, err := c.Client().UserAttrs(c.Context(), user)
		if err != nil {
			return nil, err
		}
		var out []string
		for k, v := range attrs {
			out = append(out, k+"="+v)
		}
		slices.Sort(out)
		return out, nil
	})
	route.Handle(g, subBindHere, func(c *logic.Ctx, _ string) (string, error) {
		return c.InstanceID(), c.BindHere()
	})
	route.Handle(g, subUnbind, func(c *logic.Ctx, _ string) (bool, error) { return true, c.UnbindHere() })
	route.Handle(g, subRoomAppend, func(c *logic.Ctx, args []string) (bool, error) {
		if len(args) != 2 {
			return false, errs.ErrValidation
		}
		room, entry := args[0], args[1]
		return true, c.Exec(room, func(context.Context) { rooms[room] = append(rooms[room], entry) })
	})
	route.Handle(g, subRoomLog, func(c *logic.Ctx, room string) ([]string, error) {
		var out []string
		err := c.ExecWait(room, func(context.Context) { out = slices.Clone(rooms[room]) })
		return out, err
	})
}
