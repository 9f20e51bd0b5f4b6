package store

import (
	"context"
	"errors"
	"time"

	"github.com/iogo-dev/iogo/pkg/internal/ctxsleep"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Retry pacing of [RetryJetStream]. The first attempts are short: when
// several nodes create the same stream at once, the server may answer only
// one of the identical requests, and the others learn on their next attempt
// that the stream exists. Attempt time-outs grow so that a slow server still
// succeeds.
const (
	retryAttemptMin = 250 * time.Millisecond
	retryAttemptMax = 4 * time.Second
	retryBackoffMin = 10 * time.Millisecond
	retryBackoffMax = time.Second
)

// JetStream API error codes on which RetryJetStream retries: no suitable
// peers for placement (peers not yet known to the meta leader), JetStream
// temporarily unavailable (no meta leader), not the leader, and a stream
// create that lost a race with an identical create from another node (the
// next attempt updates instead).
const (
	errCodeClusterNoPeers  jetstream.ErrorCode = 10005
	errCodeClusterNotAvail jetstream.ErrorCode = 10008
	errCodeClusterNotLead  jetstream.ErrorCode = 10009
	errCodeStreamNameInUse                     = jetstream.JSErrCodeStreamNameInUse
)

// RetryJetStream runs op until it succeeds, fails with an error that
// retrying cannot fix, or ctx ends. It is meant for JetStream management
// calls (creating streams and buckets) made while a cluster may still be
// forming: no meta leader yet, not enough peers known for placement, or
// a concurrent create from another node.
//
// Each attempt gets its own deadline, derived from ctx and growing from
// 250 ms to 4 s, so that a request lost while the cluster has no leader does
// not consume the whole of ctx; attempts are spaced by a backoff growing from
// 10 ms to 1 s. When ctx ends, the error wraps both ctx.Err() and op's last
// error.
//
// Retried: the API error codes 10005, 10008, 10009 and 10058 (stream name in
// use), any API error with status 503, and errors that are not API errors
// (time-outs, no responders, a reconnecting connection), except a closed
// connection, which is final.
func RetryJetStream(ctx context.Context, op func(context.Context) error) error {
	backoff, attempt := retryBackoffMin, retryAttemptMin
	for {
		actx, cancel := context.WithTimeout(ctx, attempt)
		err := op(actx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return errors.Join(ctx.Err(), err)
		}
		if !retryableJetStream(err) {
			return err
		}
		if !ctxsleep.Sleep(ctx, backoff) {
			return errors.Join(ctx.Err(), err)
		}
		backoff = min(2*backoff, retryBackoffMax)
		attempt = min(2*attempt, retryAttemptMax)
	}
}

// retryableJetStream reports whether err may go away while a cluster forms;
// see [RetryJetStream].
func retryableJetStream(err error) bool {
	if errors.Is(err, nats.ErrConnectionClosed) {
		return false
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return true
	}
	switch apiErr.ErrorCode {
	case errCodeClusterNoPeers, errCodeClusterNotAvail, errCodeClusterNotLead, errCodeStreamNameInUse:
		return true
	}
	return apiErr.Code == 503
}
