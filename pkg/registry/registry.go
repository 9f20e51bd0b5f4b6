package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/store"
	"github.com/nats-io/nats.go/jetstream"
)

// Access is who may call a route.
type Access uint8

// Access rules. The zero value, AccessLogin, is the default of every route.
const (
	// AccessLogin routes need a logged-in session.
	AccessLogin Access = iota
	// AccessPublic routes are open to sessions that have not logged in
	// (login itself).
	AccessPublic
	// AccessInternal routes serve other servers only; clients get
	// CodeRouteNotFound as if the route did not exist.
	AccessInternal
)

var accessNames = [...]string{AccessLogin: "login", AccessPublic: "public", AccessInternal: "internal"}

// String returns "login", "public" or "internal".
func (a Access) String() string {
	if int(a) < len(accessNames) {
		return accessNames[a]
	}
	return fmt.Sprintf("access(%d)", uint8(a))
}

// MarshalText implements encoding.TextMarshaler.
func (a Access) MarshalText() ([]byte, error) {
	if int(a) >= len(accessNames) {
		return nil, fmt.Errorf("registry: invalid access %d", uint8(a))
	}
	return []byte(a.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *Access) UnmarshalText(b []byte) error {
	for i, n := range accessNames {
		if n == string(b) {
			*a = Access(i)
			return nil
		}
	}
	return fmt.Errorf("registry: unknown access %q", b)
}

// Route is a route's entry in the routes bucket.
type Route struct {
	Cmd     int32  `json:"cmd"`
	Sub     int32  `json:"sub"`
	Service string `json:"service"`
	// Access is the rule declared in code.
	Access Access `json:"access"`
	// Override, when set, is an operator's rule and wins over Access.
	Override *Access `json:"override,omitempty"`
	Req      string  `json:"req,omitempty"`
	Resp     string  `json:"resp,omitempty"`
	Void     bool    `json:"void,omitempty"`
	Doc      string  `json:"doc,omitempty"`
}

// Effective returns the access rule in force.
func (r *Route) Effective() Access {
	if r.Override != nil {
		return *r.Override
	}
	return r.Access
}

// Merge returns cmd<<16 | sub.
func (r *Route) Merge() int32 { return r.Cmd<<16 | r.Sub&0xffff }

// Instance is a live logic-server instance's entry in the services bucket.
type Instance struct {
	ID      string    `json:"id"`
	Service string    `json:"service"`
	Version string    `json:"version,omitempty"`
	Started time.Time `json:"started"`
	// Routes lists the merged routes (cmd<<16 | sub) the instance serves.
	Routes []int32 `json:"routes"`
	// Pushes lists the push routes the instance declares.
	Pushes []Push `json:"pushes,omitempty"`
	// Descriptors is a serialized google.protobuf.FileDescriptorSet with
	// the message types of the instance's routes and pushes, so that a gate
	// can transcode them for JSON clients without linking them in.
	Descriptors []byte `json:"descriptors,omitempty"`
}

// Binding is a user's entry in the bindings bucket.
type Binding struct {
	// Gate and Session locate the user's session; Gate is "" when the user
	// has none.
	Gate    string `json:"gate,omitempty"`
	Session uint64 `json:"session,omitempty"`
	// Logic maps a service to the instance the user is bound to.
	Logic map[string]string `json:"logic,omitempty"`
}

// ErrNoEntry is returned when a key has no entry.
var ErrNoEntry = errors.New("registry: no entry")

// Registry reads and writes the framework buckets.
type Registry struct {
	routes, services, bindings jetstream.KeyValue
}

// openTimeout bounds Open's retries when its context has no deadline.
const openTimeout = 30 * time.Second

// Open binds to the framework buckets, which the broker creates at start.
// Right after a JetStream cluster forms, or while its broker is still
// creating them, the buckets may answer "no responders", "no leader" or
// "not found" for a while: Open retries (store.RetryJetStream) until ctx
// ends, or for openTimeout when ctx has no deadline.
func Open(ctx context.Context, js jetstream.JetStream) (*Registry, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, openTimeout)
		defer cancel()
	}
	r := &Registry{}
	for _, b := range []struct {
		name string
		kv   *jetstream.KeyValue
	}{{fabric.BucketRoutes, &r.routes}, {fabric.BucketServices, &r.services}, {fabric.BucketBindings, &r.bindings}} {
		err := store.RetryJetStream(ctx, func(ctx context.Context) (err error) {
			*b.kv, err = js.KeyValue(ctx, b.name)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("registry: bucket %s: %w", b.name, err)
		}
	}
	return r, nil
}

// PublishRoutes writes the entries of routes, keeping any operator
// override already stored for a route.
func (r *Registry) PublishRoutes(ctx context.Context, routes []Route) error {
	for _, rt := range routes {
		err := update(ctx, r.routes, fabric.RouteKey(rt.Cmd, rt.Sub), func(cur *Route, exists bool) (*Route, error) {
			next := rt
			if exists {
				next.Override = cur.Override
			}
			return &next, nil
		})
		if err != nil {
			return fmt.Errorf("registry: route %d-%d: %w", rt.Cmd, rt.Sub, err)
		}
	}
	return nil
}

// SetAccess overrides the access rule of a registered route at run time;
// every external server applies it within moments. A nil access removes the
// override, restoring the rule declared in code.
func (r *Registry) SetAccess(ctx context.Context, cmd, sub int32, access *Access) error {
	return update(ctx, r.routes, fabric.RouteKey(cmd, sub), func(cur *Route, exists bool) (*Route, error) {
		if !exists {
			return nil, fmt.Errorf("registry: route %d-%d: %w", cmd, sub, ErrNoEntry)
		}
		cur.Override = access
		return cur, nil
	})
}

// Routes returns every entry of the routes bucket.
func (r *Registry) Routes(ctx context.Context) ([]Route, error) {
	return all[Route](ctx, r.routes)
}

// Instances returns every live instance.
func (r *Registry) Instances(ctx context.Context) ([]Instance, error) {
	return all[Instance](ctx, r.services)
}

// Heartbeat writes (or refreshes) an instance's entry; call it at start and
// then at least every broker.ServicesTTL/3.
func (r *Registry) Heartbeat(ctx context.Context, in Instance) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	_, err = r.services.Put(ctx, in.ID, b)
	return err
}

// Deregister removes an instance's entry at once.
func (r *Registry) Deregister(ctx context.Context, instanceID string) error {
	return r.services.Delete(ctx, instanceID)
}

// Binding returns a user's entry; a user without one gets a zero Binding.
func (r *Registry) Binding(ctx context.Context, userID int64) (Binding, error) {
	e, err := r.bindings.Get(ctx, fabric.BindingKey(userID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Binding{}, nil
	}
	if err != nil {
		return Binding{}, err
	}
	var b Binding
	err = json.Unmarshal(e.Value(), &b)
	return b, err
}

// UpdateBinding changes a user's entry by compare-and-set: fn gets the
// current entry (zero if none) and edits it; concurrent updates are retried
// so that each sees the result of the one before. It returns the entry
// before and after the change.
func (r *Registry) UpdateBinding(ctx context.Context, userID int64, fn func(b *Binding) error) (before, after Binding, err error) {
	err = update(ctx, r.bindings, fabric.BindingKey(userID), func(cur *Binding, exists bool) (*Binding, error) {
		if !exists {
			cur = &Binding{}
		}
		before = cloneBinding(*cur)
		if err := fn(cur); err != nil {
			return nil, err
		}
		after = *cur
		return cur, nil
	})
	return before, after, err
}

func cloneBinding(b Binding) Binding {
	if b.Logic != nil {
		m := make(map[string]string, len(b.Logic))
		for k, v := range b.Logic {
			m[k] = v
		}
		b.Logic = m
	}
	return b
}

// maxCASAttempts bounds the compare-and-set retries of one update.
const maxCASAttempts = 1000

// update applies fn to the JSON entry at key with compare-and-set,
// retrying on a concurrent change.
func update[T any](ctx context.Context, kv jetstream.KeyValue, key string, fn func(cur *T, exists bool) (*T, error)) error {
	for range maxCASAttempts {
		var cur T
		var rev uint64
		e, err := kv.Get(ctx, key)
		switch {
		case err == nil:
			rev = e.Revision()
			if err := json.Unmarshal(e.Value(), &cur); err != nil {
				return fmt.Errorf("registry: entry %s: %w", key, err)
			}
		case errors.Is(err, jetstream.ErrKeyNotFound):
		default:
			return err
		}
		next, err := fn(&cur, rev != 0)
		if err != nil {
			return err
		}
		b, err := json.Marshal(next)
		if err != nil {
			return err
		}
		if rev == 0 {
			_, err = kv.Create(ctx, key, b)
		} else {
			_, err = kv.Update(ctx, key, b, rev)
		}
		if err == nil {
			return nil
		}
		if !conflict(err) {
			return err
		}
	}
	return fmt.Errorf("registry: entry %s: too many concurrent updates", key)
}

// conflict reports whether err is a lost compare-and-set race.
func conflict(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) ||
		(errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence)
}

func all[T any](ctx context.Context, kv jetstream.KeyValue) ([]T, error) {
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []T
	for key := range lister.Keys() {
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		var v T
		if err := json.Unmarshal(e.Value(), &v); err != nil {
			return nil, fmt.Errorf("registry: entry %s: %w", key, err)
		}
		out = append(out, v)
	}
	return out, nil
}
