// Package registry is the cluster's shared directory, kept in the broker's
// JetStream KV buckets (see fabric.Buckets):
//
//   - routes (fabric.BucketRoutes): one entry per route with the serving
//     service, its access rule, payload types and doc. Logic servers write
//     the entries of their routes at start; operators may override a
//     route's access at run time (SetAccess), and that override survives
//     logic-server restarts.
//   - services (fabric.BucketServices): one entry per live logic-server
//     instance with the routes it serves, refreshed by heartbeats; an
//     instance that stops or dies disappears (TTL).
//   - bindings (fabric.BucketBindings): one entry per user: the session
//     holding the user and the user's player-to-logic-server bindings,
//     changed only by compare-and-set (UpdateBinding).
//
// A View follows the routes and services buckets and answers, without I/O,
// which routes are served right now and with which access rule; external
// servers consult it on every request.
//
// Registry and View are safe for concurrent use.
package registry
