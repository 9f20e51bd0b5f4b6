package guild

import (
	"context"
	"errors"
	"strings"

	"github.com/iogo-dev/iogo/pkg/store"
	"github.com/nats-io/nats.go/jetstream"
)

// jsOpener is a minimal store.Opener on JetStream KV for this package's
// tests, until package store's own implementation lands (then
// store.NewJetStream replaces it).
type jsOpener struct{ js jetstream.JetStream }

func (o jsOpener) Open(ctx context.Context, b store.Bucket) (store.KV, error) {
	kv, err := o.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: b.Name, TTL: b.TTL, Description: b.Description})
	if err != nil {
		return nil, err
	}
	return jsKV{kv}, nil
}

type jsKV struct{ kv jetstream.KeyValue }

func mapErr(err error) error {
	var apiErr *jetstream.APIError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return store.ErrNotFound
	case errors.Is(err, jetstream.ErrInvalidKey):
		return store.ErrBadKey
	case errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence:
		return store.ErrConflict
	}
	return err
}

func (k jsKV) Get(ctx context.Context, key string) (store.Entry, error) {
	e, err := k.kv.Get(ctx, key)
	if err != nil {
		return store.Entry{}, mapErr(err)
	}
	return store.Entry{Key: key, Value: e.Value(), Revision: e.Revision()}, nil
}

func (k jsKV) Put(ctx context.Context, key string, v []byte) (uint64, error) {
	r, err := k.kv.Put(ctx, key, v)
	return r, mapErr(err)
}

func (k jsKV) Create(ctx context.Context, key string, v []byte) (uint64, error) {
	r, err := k.kv.Create(ctx, key, v)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, store.ErrExists
	}
	return r, mapErr(err)
}

func (k jsKV) Update(ctx context.Context, key string, v []byte, rev uint64) (uint64, error) {
	r, err := k.kv.Update(ctx, key, v, rev)
	if err = mapErr(err); errors.Is(err, store.ErrConflict) {
		if _, gerr := k.Get(ctx, key); errors.Is(gerr, store.ErrNotFound) {
			return 0, store.ErrNotFound
		}
	}
	return r, err
}

func (k jsKV) Delete(ctx context.Context, key string) error {
	err := mapErr(k.kv.Delete(ctx, key))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

func filter(prefix string) string {
	if strings.HasSuffix(prefix, ".") {
		return prefix + ">"
	}
	return ">"
}

func (k jsKV) Keys(ctx context.Context, prefix string) ([]string, error) {
	l, err := k.kv.ListKeysFiltered(ctx, filter(prefix))
	if err != nil {
		return nil, mapErr(err)
	}
	var out []string
	for key := range l.Keys() {
		if strings.HasPrefix(key, prefix) {
			out = append(out, key)
		}
	}
	return out, nil
}

func (k jsKV) Watch(ctx context.Context, prefix string) (<-chan *store.Change, error) {
	w, err := k.kv.Watch(ctx, filter(prefix))
	if err != nil {
		return nil, err
	}
	out := make(chan *store.Change, 64)
	go func() {
		defer close(out)
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				var c *store.Change
				if e != nil {
					if !strings.HasPrefix(e.Key(), prefix) {
						continue
					}
					c = &store.Change{Entry: store.Entry{Key: e.Key(), Value: e.Value(), Revision: e.Revision()},
						Deleted: e.Operation() != jetstream.KeyValuePut}
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
