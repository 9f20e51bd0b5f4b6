// Package rank is the bundled leaderboard service (route cmd 4): boards
// declared by server code or configuration, scores submitted by players
// (or by server code for anyone), ranks, pages with stable cursors,
// windows around a player, friends lists, and periods that reset on a
// cron schedule.
//
// The service ([Module]) keeps board configurations and periods; records
// and ranks live in a [Boards] backend: by default an in-memory
// order-statistic B+tree per board period, persisted in store.KV and
// kept in step across instances by the store's watch ([NewKVBoards]); or
// Redis sorted sets ([NewRedisBoards]). Both pass the suite of package
// ranktest.
//
// Concurrency: every exported method is safe for concurrent use once
// Open has returned. Lock order in the KV backend: the scope map's lock
// before an index's lock; the module's board map lock is never held
// while calling the backend.
package rank
