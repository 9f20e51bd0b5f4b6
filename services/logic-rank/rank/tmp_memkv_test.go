package rank_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/iogo-dev/iogo/pkg/store"
	"github.com/iogo-dev/iogo/services/logic-rank/rank"
	"github.com/iogo-dev/iogo/services/logic-rank/ranktest"
)

// tmpKV is a stand-in until store.NewJetStream lands on main.
type tmpKV struct {
	mu   sync.Mutex
	rev  uint64
	data map[string]store.Entry
	subs []chan *store.Change
}

func (k *tmpKV) Get(_ context.Context, key string) (store.Entry, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.data[key]
	if !ok {
		return store.Entry{}, store.ErrNotFound
	}
	return e, nil
}
func (k *tmpKV) write(key string, v []byte, del bool) uint64 {
	k.rev++
	c := &store.Change{Entry: store.Entry{Key: key, Value: v, Revision: k.rev}, Deleted: del}
	if del {
		delete(k.data, key)
	} else {
		k.data[key] = c.Entry
	}
	for _, s := range k.subs {
		s <- c
	}
	return k.rev
}
func (k *tmpKV) Put(_ context.Context, key string, v []byte) (uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.write(key, v, false), nil
}
func (k *tmpKV) Create(_ context.Context, key string, v []byte) (uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.data[key]; ok {
		return 0, store.ErrExists
	}
	return k.write(key, v, false), nil
}
func (k *tmpKV) Update(_ context.Context, key string, v []byte, rev uint64) (uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.data[key]
	if !ok {
		return 0, store.ErrNotFound
	}
	if e.Revision != rev {
		return 0, store.ErrConflict
	}
	return k.write(key, v, false), nil
}
func (k *tmpKV) Delete(_ context.Context, key string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.data[key]; ok {
		k.write(key, nil, true)
	}
	return nil
}
func (k *tmpKV) Keys(_ context.Context, p string) ([]string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for key := range k.data {
		if strings.HasPrefix(key, p) {
			out = append(out, key)
		}
	}
	return out, nil
}
func (k *tmpKV) Watch(ctx context.Context, p string) (<-chan *store.Change, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	in := make(chan *store.Change, 1<<16)
	for key, e := range k.data {
		if strings.HasPrefix(key, p) {
			in <- &store.Change{Entry: e}
		}
	}
	in <- nil
	k.subs = append(k.subs, in)
	out := make(chan *store.Change)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case c := <-in:
				if c != nil && !strings.HasPrefix(c.Key, p) {
					continue
				}
				select {
				case out <- c:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

func TestTmpKV(t *testing.T) {
	ranktest.Run(t, func(t *testing.T) ranktest.Open {
		kv := &tmpKV{data: map[string]store.Entry{}}
		return func(t *testing.T) rank.Boards {
			b, err := rank.NewKVBoards(t.Context(), kv, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return b
		}
	})
}
