// Package login is the bundled login service: it logs players in and binds
// their connection to their userID.
//
// This first handler set is stateless: a guest's userID is derived from the
// device ID, so every instance agrees on it without storage. Accounts,
// passwords, tokens and bans come with the full login module.
package login

import (
	"hash/fnv"
	"strings"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
	loginpb "github.com/iogo-dev/iogo/proto/login"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Service is the service name, and the queue group of its instances.
const Service = "login"

// Cmd is the route cmd of the login service.
const Cmd int32 = 1

// Routes of the login service.
const (
	SubGuest  int32 = 0 // GuestLogin → User; binds the session
	SubWhoAmI int32 = 1 // Empty → User; needs a logged-in session
)

// Errors of the login service.
var (
	// ErrDeviceID is returned for a missing or over-long device ID.
	ErrDeviceID = errs.ErrValidation.WithMsg("login: device_id must be 1..128 bytes")
)

// maxDeviceID is the longest device ID accepted.
const maxDeviceID = 128

// Router returns the routes of the login service.
func Router() *route.Router {
	r := route.NewRouter()
	r.DeclareError("DeviceID", ErrDeviceID)
	g := r.Group(Cmd)
	route.Handle(g, SubGuest, guestLogin, route.Public(),
		route.Doc("Logs a device in as a guest and binds the connection to its user; a previous session of the user is kicked (-1007)."))
	route.Handle(g, SubWhoAmI, whoAmI, route.Doc("Returns the logged-in user of this connection."))
	return r
}

// guestLogin logs a device in as a guest and binds the connection to its
// user; a previous session of the user is kicked (-1007).
func guestLogin(c *logic.Ctx, req *loginpb.GuestLogin) (*loginpb.User, error) {
	if n := len(req.DeviceId); n == 0 || n > maxDeviceID {
		return nil, ErrDeviceID
	}
	id := GuestID(req.DeviceId)
	if err := c.Bind(id); err != nil {
		return nil, err
	}
	name := strings.TrimSpace(req.Nickname)
	if name == "" {
		name = "guest"
	}
	return &loginpb.User{Id: id, Nickname: name}, nil
}

func whoAmI(c *logic.Ctx, _ *emptypb.Empty) (*loginpb.User, error) {
	if c.UserID() == 0 {
		return nil, errs.ErrLoginRequired
	}
	return &loginpb.User{Id: c.UserID()}, nil
}

// GuestID derives a guest's userID from its device ID: a positive 63-bit
// FNV-1a hash, stable across instances and restarts.
func GuestID(deviceID string) int64 {
	h := fnv.New64a()
	h.Write([]byte(deviceID))
	id := int64(h.Sum64() >> 1)
	if id == 0 {
		id = 1
	}
	return id
}
