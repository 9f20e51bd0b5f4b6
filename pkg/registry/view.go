package registry

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/store"
	"github.com/nats-io/nats.go/jetstream"
)

// Served is a route that at least one live instance serves.
type Served struct {
	Route
	// Instances serving the route, by instance ID.
	Instances []string
}

// View is a live, read-only picture of the routes served in the cluster,
// kept current by watching the routes and services buckets. Lookups read an
// immutable snapshot and take no lock.
type View struct {
	log  *slog.Logger
	snap atomic.Pointer[snapshot]

	mu        sync.Mutex // guards routes, instances, onChange
	routes    map[int32]Route
	instances map[string]Instance
	onChange  []func()

	ready chan struct{} // closed once both buckets' initial values are in
	done  chan struct{} // closed when the watch goroutine ends
}

type snapshot struct {
	served map[int32]*Served
}

// Watch starts a View; it returns once the view holds the buckets' current
// contents. The view follows changes until ctx ends. Creating its watchers
// is retried while a fresh cluster elects its leaders (store.RetryJetStream),
// until ctx ends.
func (r *Registry) Watch(ctx context.Context, log *slog.Logger) (*View, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Right after a cluster forms, creating a watcher may fail for a
	// while, as opening the registry may (Open). The watchers live as
	// long as ctx, not as long as one attempt.
	var routesW, servicesW jetstream.KeyWatcher
	err := store.RetryJetStream(ctx, func(context.Context) (err error) {
		if routesW, err = r.routes.WatchAll(ctx); err != nil {
			return err
		}
		if servicesW, err = r.services.WatchAll(ctx); err != nil {
			_ = routesW.Stop()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	v := &View{
		log:       log,
		routes:    make(map[int32]Route),
		instances: make(map[string]Instance),
		ready:     make(chan struct{}),
		done:      make(chan struct{}),
	}
	v.snap.Store(&snapshot{served: map[int32]*Served{}})
	go v.follow(ctx, routesW, servicesW)
	select {
	case <-v.ready:
		return v, nil
	case <-ctx.Done():
		<-v.done
		return nil, ctx.Err()
	}
}

// Lookup returns the served route (cmd, sub), or false when no live
// instance serves it.
func (v *View) Lookup(cmd, sub int32) (*Served, bool) {
	s, ok := v.snap.Load().served[cmd<<16|sub&0xffff]
	return s, ok
}

// Served returns every served route.
func (v *View) Served() []*Served {
	m := v.snap.Load().served
	out := make([]*Served, 0, len(m))
	for _, s := range m {
		out = append(out, s)
	}
	return out
}

// Instances returns the live instances the view knows, in no order. The
// entries share their slices with the view: treat them as read-only.
func (v *View) Instances() []Instance {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]Instance, 0, len(v.instances))
	for _, in := range v.instances {
		out = append(out, in)
	}
	return out
}

// OnChange registers fn to run (on the view's goroutine) after every change.
func (v *View) OnChange(fn func()) {
	v.mu.Lock()
	v.onChange = append(v.onChange, fn)
	v.mu.Unlock()
}

// Done is closed when the view has stopped following changes.
func (v *View) Done() <-chan struct{} { return v.done }

func (v *View) follow(ctx context.Context, routesW, servicesW jetstream.KeyWatcher) {
	defer close(v.done)
	defer func() { _ = routesW.Stop(); _ = servicesW.Stop() }()
	routesReady, servicesReady := false, false
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-routesW.Updates():
			if !ok {
				return
			}
			if e == nil {
				routesReady = true
			} else {
				v.applyRoute(e)
			}
		case e, ok := <-servicesW.Updates():
			if !ok {
				return
			}
			if e == nil {
				servicesReady = true
			} else {
				v.applyInstance(e)
			}
		}
		if !routesReady || !servicesReady {
			continue
		}
		v.rebuild()
		select {
		case <-v.ready:
		default:
			close(v.ready)
		}
	}
}

func (v *View) applyRoute(e jetstream.KeyValueEntry) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut {
		for k, rt := range v.routes {
			if fabric.RouteKey(rt.Cmd, rt.Sub) == e.Key() {
				delete(v.routes, k)
			}
		}
		return
	}
	var rt Route
	if err := json.Unmarshal(e.Value(), &rt); err != nil {
		v.log.Warn("registry: bad route entry", slog.String("key", e.Key()), slog.Any("error", err))
		return
	}
	v.routes[rt.Merge()] = rt
}

func (v *View) applyInstance(e jetstream.KeyValueEntry) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut {
		delete(v.instances, e.Key())
		return
	}
	var in Instance
	if err := json.Unmarshal(e.Value(), &in); err != nil {
		v.log.Warn("registry: bad instance entry", slog.String("key", e.Key()), slog.Any("error", err))
		return
	}
	v.instances[e.Key()] = in
}

// rebuild publishes a new snapshot: the routes that a live instance serves.
func (v *View) rebuild() {
	v.mu.Lock()
	served := make(map[int32]*Served)
	for id, in := range v.instances {
		for _, merge := range in.Routes {
			s := served[merge]
			if s == nil {
				rt, ok := v.routes[merge]
				if !ok {
					// Instance entry arrived before its route entry: serve
					// it with the defaults of its service.
					rt = Route{Cmd: merge >> 16, Sub: merge & 0xffff, Service: in.Service}
				}
				s = &Served{Route: rt}
				served[merge] = s
			}
			s.Instances = append(s.Instances, id)
		}
	}
	hooks := v.onChange
	v.mu.Unlock()
	v.snap.Store(&snapshot{served: served})
	for _, fn := range hooks {
		fn()
	}
}
