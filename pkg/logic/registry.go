package logic

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/iogo-dev/iogo/pkg/registry"
	"github.com/iogo-dev/iogo/pkg/store"
	"github.com/nats-io/nats.go"
)

// Registry timing. HeartbeatInterval is broker.ServicesTTL/3 (a test keeps
// them in step; package broker is not imported here, to keep the embedded
// NATS server out of logic binaries).
const (
	HeartbeatInterval = 5 * time.Second
	// heartbeatRetry is the pause after a failed registry write.
	heartbeatRetry = 500 * time.Millisecond
	// registryTimeout bounds one registry write.
	registryTimeout = 5 * time.Second
	// deregisterTimeout bounds the deregistration at shutdown; past it the
	// entry expires on its own after broker.ServicesTTL.
	deregisterTimeout = 2 * time.Second
)

// registryRoutes returns the routes bucket entries of the server's routes.
func (s *Server) registryRoutes() []registry.Route {
	routes := s.table.Routes()
	out := make([]registry.Route, len(routes))
	for i, r := range routes {
		out[i] = registry.Route{
			Cmd: r.Cmd, Sub: r.Sub, Service: s.cfg.Service, Access: r.Access,
			Req: r.Req, Resp: r.Resp, Void: r.Void, Doc: r.Doc,
		}
	}
	return out
}

// instance returns the services bucket entry of this instance.
func (s *Server) instance() registry.Instance {
	routes := s.table.Routes()
	in := registry.Instance{
		ID: s.cfg.InstanceID, Service: s.cfg.Service, Version: s.cfg.Version, Started: s.startedAt,
		Routes: make([]int32, len(routes)), Descriptors: s.descriptors,
	}
	for i := range routes {
		in.Routes[i] = routes[i].CmdMerge()
	}
	for _, p := range s.pushes {
		in.Pushes = append(in.Pushes, registry.Push{Cmd: p.Cmd, Sub: p.Sub, Type: p.Type, Doc: p.Doc})
	}
	return in
}

// warnSharedRoutes logs, loudly, every route of this server that a live
// instance of another service also serves: both services receive its
// requests (their queue groups differ), so each request runs twice and the
// caller gets whichever answer comes first. Tests use this on purpose;
// production deployments should not.
func (s *Server) warnSharedRoutes(ctx context.Context) error {
	live, err := s.client.Registry().Instances(ctx)
	if err != nil {
		return fmt.Errorf("logic: read the registry: %w", err)
	}
	for _, in := range live {
		if in.Service == s.cfg.Service {
			continue
		}
		for _, merge := range in.Routes {
			if r := s.table.Lookup(merge>>16, merge&0xffff); r != nil {
				s.log.Warn("route also served by another service: each request runs in both",
					slog.String("route", r.String()), slog.String("other_service", in.Service),
					slog.String("other_instance", in.ID))
			}
		}
	}
	return nil
}

// retryRegistry runs op, a step of Start on the registry, until it
// succeeds or fails for good (store.RetryJetStream): right after a
// JetStream cluster forms, its buckets may answer "no responders" or "no
// leader" for a while. A failed attempt is logged, the first one and then
// every 20th, so that a broker without JetStream does not wait in silence.
func (s *Server) retryRegistry(ctx context.Context, step string, op func(context.Context) error) error {
	attempts := 0
	return store.RetryJetStream(ctx, func(ctx context.Context) error {
		err := op(ctx)
		if err != nil {
			if attempts%20 == 0 {
				s.log.Warn("registry not ready; retrying", slog.String("step", step),
					slog.Int("attempt", attempts+1), slog.Any("error", err))
			}
			attempts++
		}
		return err
	})
}

// register publishes the routes (when routes is set) and writes the
// instance entry.
func (s *Server) register(ctx context.Context, routes bool) error {
	reg := s.client.Registry()
	if routes {
		if err := reg.PublishRoutes(ctx, s.registryRoutes()); err != nil {
			return err
		}
	}
	return reg.Heartbeat(ctx, s.instance())
}

// heartbeats refreshes the instance entry every HeartbeatInterval, and
// republishes everything after the connection comes back (the broker may
// have restarted, and its entries expired or been lost meanwhile). A
// failed write is retried soon. It ends when hbStop closes.
func (s *Server) heartbeats(status <-chan nats.Status) {
	defer close(s.hbDone)
	timer := time.NewTimer(HeartbeatInterval)
	defer timer.Stop()
	routes := false // whether the next write republishes the routes
	for {
		select {
		case <-s.hbStop:
			return
		case st := <-status:
			if st != nats.CONNECTED {
				continue
			}
			s.log.Info("broker reconnected; registering again")
			routes = true
		case <-timer.C:
		}
		ctx, cancel := context.WithTimeout(s.hbCtx, registryTimeout)
		err := s.register(ctx, routes)
		cancel()
		next := HeartbeatInterval
		if err != nil {
			s.log.Warn("registry heartbeat failed", slog.Any("error", err))
			next = heartbeatRetry
		} else {
			routes = false
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// stopHeartbeats ends the heartbeat goroutine and waits for it, so that no
// heartbeat can recreate the entry after Deregister.
func (s *Server) stopHeartbeats() {
	s.hbEnd()
	close(s.hbStop)
	<-s.hbDone
	if s.status != nil {
		s.nc.RemoveStatusListener(s.status)
	}
}

// deregister removes the instance entry, so that external servers stop
// sending it bound users' requests; a failure only delays that until the
// entry expires.
func (s *Server) deregister(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, deregisterTimeout)
	defer cancel()
	if err := s.client.Registry().Deregister(ctx, s.cfg.InstanceID); err != nil {
		s.log.Warn("deregistration failed; the entry will expire", slog.Any("error", err))
	}
}
