package logic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/nats-io/nats.go"
)

// Errors of the external region.
var (
	// ErrOffline is returned by an action on a user that no external server
	// holds.
	ErrOffline = errors.New("logic: user offline")
	// ErrRefused wraps the reason an external server gave for refusing a
	// control request.
	ErrRefused = errors.New("logic: refused by the external server")
)

// control sends a control request to an external server (fabric.Control on
// fabric.UserControl or fabric.GateControl) and returns its reply. No
// responder means no external server holds the user or gate: ErrOffline.
func (cl *Client) control(ctx context.Context, subject string, req fabric.Control) (fabric.ControlReply, error) {
	var rep fabric.ControlReply
	data, err := json.Marshal(req)
	if err != nil {
		return rep, err
	}
	ctx, cancel := cl.withTimeout(ctx)
	defer cancel()
	msg, err := cl.nc.RequestWithContext(ctx, subject, data)
	if errors.Is(err, nats.ErrNoResponders) {
		return rep, ErrOffline
	}
	if err != nil {
		return rep, fmt.Errorf("logic: %s on %s: %w", req.Op, subject, err)
	}
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		return rep, fmt.Errorf("logic: %s on %s: bad reply: %w", req.Op, subject, err)
	}
	if !rep.OK && rep.Gone {
		return rep, fmt.Errorf("%w: %w: %s: %s", ErrSessionGone, ErrRefused, req.Op, rep.Error)
	}
	if !rep.OK {
		return rep, fmt.Errorf("%w: %s: %s", ErrRefused, req.Op, rep.Error)
	}
	return rep, nil
}

// Online reports whether an external server holds a session of userID.
func (cl *Client) Online(ctx context.Context, userID int64) (bool, error) {
	rep, err := cl.control(ctx, fabric.UserControl(userID), fabric.Control{Op: fabric.OpOnline, User: userID})
	if errors.Is(err, ErrOffline) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return rep.Online, nil
}

// Kick disconnects userID: the client receives an envelope with code and
// msg (use errs.CodeForcedOffline for the framework's "forced offline"),
// then its connection closes. Kicking a user who is offline does nothing.
func (cl *Client) Kick(ctx context.Context, userID int64, code int32, msg string) error {
	_, err := cl.control(ctx, fabric.UserControl(userID), fabric.Control{Op: fabric.OpKick, User: userID, Code: code, Msg: msg})
	if errors.Is(err, ErrOffline) {
		return nil
	}
	return err
}

// UserAttrs returns the session attributes of userID; ErrOffline when no
// external server holds the user.
func (cl *Client) UserAttrs(ctx context.Context, userID int64) (map[string]string, error) {
	rep, err := cl.control(ctx, fabric.UserControl(userID), fabric.Control{Op: fabric.OpGetAttrs, User: userID})
	if err != nil {
		return nil, err
	}
	if rep.Attrs == nil {
		rep.Attrs = map[string]string{}
	}
	return rep.Attrs, nil
}

// SetUserAttrs merges attrs into the session attributes of userID (an
// empty value deletes its key); the user's later requests carry them.
// ErrOffline when no external server holds the user.
func (cl *Client) SetUserAttrs(ctx context.Context, userID int64, attrs map[string]string) error {
	_, err := cl.control(ctx, fabric.UserControl(userID), fabric.Control{Op: fabric.OpSetAttrs, User: userID, Attrs: attrs})
	return err
}

// Online reports whether userID is connected (Client.Online).
func (c *Ctx) Online(userID int64) (bool, error) {
	cl, err := c.cl()
	if err != nil {
		return false, err
	}
	return cl.Online(c.ctx, userID)
}

// Kick disconnects userID with code and msg (Client.Kick).
func (c *Ctx) Kick(userID int64, code int32, msg string) error {
	cl, err := c.cl()
	if err != nil {
		return err
	}
	return cl.Kick(c.ctx, userID, code, msg)
}
