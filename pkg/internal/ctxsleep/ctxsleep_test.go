package ctxsleep_test

import (
	"context"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/internal/ctxsleep"
)

func TestSleep(t *testing.T) {
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tt := range []struct {
		name string
		ctx  context.Context
		d    time.Duration
		want bool
	}{
		{"elapses", context.Background(), time.Millisecond, true},
		{"context ended", ended, time.Hour, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := ctxsleep.Sleep(tt.ctx, tt.d); got != tt.want {
				t.Fatalf("Sleep = %v, want %v", got, tt.want)
			}
		})
	}
}
