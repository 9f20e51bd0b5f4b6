package logic

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/registry"
)

// BindLogic binds userID to one instance of service: from now on the
// user's requests to the service's routes go to instanceID only (a room, a
// match, a shard holding the user's state), across reconnects, until the
// binding is removed. If the instance stops, those requests fail with
// errs.CodeLogicGone instead of reaching another instance. An empty
// instanceID removes the binding: requests spread over all instances again.
//
// The binding is stored in the bindings bucket (the external servers read
// it when the user logs in) and the external server holding the user, if
// any, is told at once.
func (cl *Client) BindLogic(ctx context.Context, userID int64, service, instanceID string) error {
	if userID == 0 {
		return errs.ErrLoginRequired
	}
	if service == "" || strings.ContainsAny(service, ".*> \t\r\n") {
		return fmt.Errorf("logic: BindLogic: bad service name %q", service)
	}
	if strings.ContainsAny(instanceID, ".*> \t\r\n") {
		return fmt.Errorf("logic: BindLogic: bad instance ID %q", instanceID)
	}
	_, _, err := cl.reg.UpdateBinding(ctx, userID, func(b *registry.Binding) error {
		if instanceID == "" {
			delete(b.Logic, service)
			if len(b.Logic) == 0 {
				b.Logic = nil
			}
			return nil
		}
		if b.Logic == nil {
			b.Logic = make(map[string]string, 1)
		}
		b.Logic[service] = instanceID
		return nil
	})
	if err != nil {
		return fmt.Errorf("logic: BindLogic user %d: %w", userID, err)
	}
	_, err = cl.control(ctx, fabric.UserControl(userID), fabric.Control{
		Op: fabric.OpBindLogic, User: userID, Service: service, Instance: instanceID,
	})
	if errors.Is(err, ErrOffline) {
		return nil // the gate reads the bucket when the user logs in
	}
	return err
}

// BindLogic binds the request's user to instanceID of service
// (Client.BindLogic); an empty instanceID removes the binding.
func (c *Ctx) BindLogic(service, instanceID string) error {
	cl, err := c.cl()
	if err != nil {
		return err
	}
	return cl.BindLogic(c.ctx, c.meta.UserID, service, instanceID)
}

// BindHere binds the request's user to this instance for this service:
// the user's later requests to the service all reach this instance.
func (c *Ctx) BindHere() error {
	if c.srv == nil {
		return ErrNoServer
	}
	return c.BindLogic(c.srv.Service(), c.srv.InstanceID())
}

// UnbindHere removes the request's user's binding for this service.
func (c *Ctx) UnbindHere() error {
	if c.srv == nil {
		return ErrNoServer
	}
	return c.BindLogic(c.srv.Service(), "")
}
