package store

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// TestRetryableRead: a KV read is tried again when JetStream is
// unavailable for a moment or an attempt timed out, never when the answer
// is final or the caller's context has ended.
func TestRetryableRead(t *testing.T) {
	live := context.Background()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	unavail := &jetstream.APIError{Code: 503, ErrorCode: errCodeClusterNotAvail, Description: "JetStream system temporarily unavailable"}
	notLeader := &jetstream.APIError{Code: 500, ErrorCode: errCodeClusterNotLead}
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"temporarily unavailable", live, fmt.Errorf("get: %w", unavail), true},
		{"not the leader", live, notLeader, true},
		{"attempt timed out", live, fmt.Errorf("get: %w", context.DeadlineExceeded), true},
		{"key not found", live, jetstream.ErrKeyNotFound, false},
		{"bad request", live, &jetstream.APIError{Code: 400, ErrorCode: 10003}, false},
		{"other error", live, errors.New("boom"), false},
		{"caller gone", ended, unavail, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryableRead(tt.ctx, tt.err); got != tt.want {
				t.Fatalf("retryableRead(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
