package logic

import (
	"context"

	"github.com/iogo-dev/iogo/pkg/store"
)

// A Module is a logic service that keeps data, such as the bundled login,
// guild and rank services. svcmain.RunLogic and `iogo dev` drive it: they
// build it (letting it add its flags), take its routes, open it on the
// configured store backend before the first request, and close it after
// the server stopped.
//
// It lives here, beside the Server it serves on, so that a module's package
// imports the framework library only, not the service mains' helpers.
type Module interface {
	// Router returns the service's routes. It is called before Open, also
	// by -dump-routes, which opens nothing; handlers run only after Open.
	Router() RouteSource
	// Open opens the module's buckets on st and loads its state. srv is the
	// server that will serve the routes: its Conn and Client are ready,
	// its routes not yet subscribed.
	Open(ctx context.Context, srv *Server, st store.Opener) error
	// Close releases what Open acquired; it runs after the server stopped,
	// also when Open failed or never ran.
	Close() error
}
