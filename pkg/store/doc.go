// Package store is the storage the bundled logic modules (login, guild,
// rank) and user services keep their data in: a small key-value interface
// with optimistic concurrency, implemented on the broker's JetStream
// ([NewJetStream], the default: nothing to install) and on Redis
// ([NewRedis], when a Redis URL is configured; see [RedisFromURL]).
//
// Both implementations pass one conformance suite (package storetest), so a
// module written against [KV] behaves the same on either backend.
//
// # Keys and values
//
// Keys are one or more tokens separated by '.'; a token is made of
// A-Z a-z 0-9 '-' '_' '=' (see [ValidKey]); [Token] turns any string, such
// as a player name, into a token. Values are opaque bytes.
//
// # Revisions and concurrency
//
// Every write returns the key's new revision. Revisions grow across a whole
// bucket (a later write to any key has a greater revision), never per key
// only. [KV.Update] succeeds only while the revision is the one the caller
// read, [KV.DeleteRev] likewise removes only the revision read, and
// [KV.Create] succeeds only while the key has no value: that is how
// concurrent writers (two instances of a service, two goroutines) change one
// record without losing an update. The [Update] helper wraps the
// read-modify-write loop.
//
// A write acknowledged to one caller is seen by every later Get, Keys and
// Watch, from any process: on a replicated JetStream bucket, Get reads from
// the stream leader and Keys and Watch wait until their replica has caught
// up with the last write.
//
// # Watching
//
// [KV.Watch] sends the current values, a nil marker, then changes in
// revision order. Deletes and TTL expiries arrive as changes with Deleted
// set. On Redis, expiries are reported only when the server sends expiry
// notifications (see [NewRedis]).
//
// # Ownership and goroutines
//
// KV values and Openers are safe for concurrent use. The JetStream context
// and the Redis client passed to [NewJetStream] and [NewRedis] stay the
// caller's: the store never closes them. Each Watch runs one goroutine,
// which ends, after closing the channel, when the watch's context ends;
// Keys and the other calls start none that outlive them.
package store
