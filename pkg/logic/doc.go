// Package logic is the logic-server runtime: it connects to the broker (a
// logic server dials out and never listens), registers the service in the
// cluster registry, subscribes its routes, runs each request on the
// executor of its user and answers over NATS.
//
// # Lifecycle and registry
//
// Start opens the server's Client, publishes the routes in the routes
// bucket (with their access rule: route.Public, route.Internal, or login by
// default), subscribes every route — with the service's queue group, so a
// request reaches one instance, and on the instance's own subjects
// (fabric.Instance), so users bound to this instance reach it — and only
// then writes the instance entry (routes, declared pushes and a
// FileDescriptorSet of every payload type) to the services bucket. A
// goroutine refreshes the entry every HeartbeatInterval and re-publishes
// everything when the broker connection comes back. Shutdown removes the
// entry first, so external servers stop routing bound users here, then
// drains.
//
// # Ordering and concurrency
//
// All route subscriptions of a server feed one dispatch loop, which keeps the
// broker's delivery order. The loop hands each request to the executor of
// its key: the userID, or the session for a client that has not logged in.
// An executor runs its requests one at a time in arrival order on a
// goroutine of its own that exists only while it has work, so requests of
// one user never race and never reorder, different users run in parallel,
// and a slow handler blocks nobody but its own user. There is no shared
// worker pool to exhaust. Each executor's queue is bounded (Config.MaxPending),
// and so are the requests received and not yet dispatched (Config.Inbound,
// inbound.go); a request beyond either bound is answered at once with a
// "server busy" error instead of being dropped.
//
// # Overload
//
// A request whose caller stops waiting (fabric.HeaderTimeout) before its
// handler would be done is shed when it leaves its queue: answered
// ErrExpired without running. Whether it would be done in time is judged on
// the route's handler-time estimate, which decays with time and is
// re-probed by one request at a time while the route sheds, so a route
// opens again by itself once a flood is over (shed.go). Every request
// answered without running its handler is counted per route and reason
// (stats.ShedReason) and logged, at most once per route every 10 s.
// Ctx.Deadline tells a handler when its caller stops waiting.
//
// Named keys (Ctx.Exec, Server.Exec) are executors of their own for state
// several users share — a room, a match: functions submitted for one key
// run one at a time in submission order. Exec is asynchronous; ExecWait
// waits for the function to have run.
//
// # Handlers and the cluster
//
// Handlers are registered with package route, which turns typed functions
// into the erased Handler of this package. A Ctx is valid only during its
// handler call; do not keep it. Through it a handler logs its session in
// (Bind), reads and writes session attributes (Attr, SetAttr), pushes to
// users (Push, PushTo, PushAll), reaches the external servers (Online,
// Kick, and the gates' own actions by bizCode with RegionCall,
// RegionCallUser and RegionCallAll) and binds users to instances
// (BindLogic, BindHere). Code outside
// handlers does the same through Server.Client. Session actions are
// synchronous control requests (fabric.Control) to the external server
// holding the session or user; pushes are published and not awaited.
//
// # Server-to-server calls
//
// Call (request/response), Send (request/void) and CallAll
// (request/multiple_response) reach a route the way a client's request
// does, minus the external server: no session and no access check, so
// route.Internal routes are served too. Payloads travel in protobuf. The
// Caller says on whose behalf: a *Client calls for no user (Client.As names
// one), a *Ctx for its request's user, with its session attributes. Call
// and Send reach one instance of the serving service; CallAll publishes on
// the route's fan-out subject (fabric.All), which every instance subscribes
// without a queue group, and collects the replies, each naming its
// instance (fabric.HeaderInstance), against the instances the registry
// lists for the route.
//
// A call is marked by an empty gate and carries its nesting depth
// (fabric.Meta.Depth): 1 for a call made outside a call handler, n+1 for
// one made while serving a call of depth n. The serving server runs it on
// an executor of its own per (user, depth), apart from the user's client
// requests. A call thus never queues behind the request or call waiting for
// it: a handler may call its own service for its own user, or a service
// that calls back, and wait for the answer without deadlock. Calls of one
// user at one depth keep their order; calls without a user have no order
// and run in parallel. Calls nest at most MaxCallDepth deep, which also
// ends call loops.
//
// # Event bus
//
// Any code publishes a message on a topic (Client.Publish, Ctx.Publish,
// PublishDurable); services subscribe with route.Subscribe and their
// servers deliver the events to the handlers. The subscriber chooses who
// receives an event (Delivery): every instance, one instance per service,
// or one instance per service at least once (Durable, kept in a JetStream
// stream per topic with a durable consumer per service).
//
// The events of one subscription are handled one at a time, in the order
// the server receives them, on a goroutine of the subscription's own;
// topics run in parallel with each other and with requests, and a slow
// handler delays only its own topic. Event handlers do not run on user
// executors: state they share with request handlers needs a lock or an
// Exec key. A durable event whose handler fails is delivered again later,
// after events that came behind it; with Subscription.MaxAttempts
// (route.DeadLetter) it is given up after that many deliveries and parked
// on its dead-letter topic (fabric.DeadLetterTopic). At shutdown, event subscriptions are
// drained before the routes, so their handlers can still call them.
package logic
