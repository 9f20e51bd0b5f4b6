// Package broker runs one embedded NATS node with JetStream: the message
// fabric of iogo. External servers, logic servers and tools connect to it
// (over TCP, or in-process in the all-in-one `iogo dev` mode); several nodes
// form one NATS cluster from a route list, so a distributed deployment needs
// no other infrastructure.
//
// # Lifecycle
//
// [New] validates a [Config] and applies its defaults without doing any I/O.
// [Broker.Start] starts the NATS server, waits until it accepts connections
// and, unless JetStream is disabled, until the framework KV buckets named in
// package fabric exist ([EnsureBuckets]), so that every service connecting
// afterwards can rely on them. A clustered node first waits for its cluster to
// elect a JetStream meta leader. The first election of a fresh cluster needs
// every node of the route list running, later ones a majority: start the
// nodes of a new cluster together.
// [Broker.Run] is Start, then a wait for its context, then Shutdown.
// [Broker.Shutdown] stops the server and removes the temporary JetStream
// store the broker created when Config.StoreDir was empty; it is idempotent
// and nil-safe. A broker is started at most once.
//
// The NATS server's logs go to Config.Logger through a [log/slog] adapter.
// The package never exits the process, installs no signal handlers and keeps
// no package-level state.
//
// # Roles and permissions
//
// Each client connects as a role (fabric.RoleGate, RoleLogic, RoleTool)
// with a user of its own (Config.Users) and only the subjects its job needs
// ([Permissions]): a tool reads the registry and stats, a logic server
// cannot receive a gate's control, pushes or players' replies, a gate
// cannot serve routes. Each role subscribes to its own inboxes only
// (fabric.InboxPrefix). Config.User and NKeys are operators with every
// permission; User also guards the cluster routes. With any credentials,
// or with DontListen, a client without credentials is refused, and the
// broker's own connections ([Broker.InProcessConn], and
// [Broker.InProcessConnAs] for a role) use random internal users that
// accept in-process connections only.
//
// # Concurrency and ownership
//
// All methods of [Broker] are safe for concurrent use. The broker owns the
// *server.Server returned by [Broker.Server] and its temporary store; callers
// own the connections they get from [Broker.InProcessConn] and must close
// them. [EnsureBuckets] is safe to run from many processes at once.
//
// Broker has one mutex. It guards the hand-over of the server and its
// temporary store from Start to Shutdown, and is held while the NATS server's
// own Start runs (which returns after a few milliseconds), so that a
// concurrent Shutdown never races with it. It is never held while waiting.
package broker
