package rank_test

import (
	"context"
	"sync"
	"testing"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/store"
)

type tmpOpener struct {
	mu sync.Mutex
	m  map[string]*tmpKV
}

func (o *tmpOpener) Open(_ context.Context, b store.Bucket) (store.KV, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m[b.Name] == nil {
		o.m[b.Name] = &tmpKV{data: map[string]store.Entry{}}
	}
	return o.m[b.Name], nil
}

func newOpener(t *testing.T) store.Opener { return &tmpOpener{m: map[string]*tmpKV{}} }

func e2eOpener(*broker.Broker) store.Opener { return &tmpOpener{m: map[string]*tmpKV{}} }
