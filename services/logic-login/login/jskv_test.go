package login

// A minimal store.Opener on JetStream KV for these tests, until
// store.NewJetStream (branch h-store) lands on main; then the tests use it
// and this file goes.

import (
	"context"
	"errors"
	"strings"

	"github.com/iogo-dev/iogo/pkg/store"
	"github.com/nats-io/nats.go/jetstream"
)

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
	var api *jetstream.APIError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return store.ErrNotFound
	case errors.Is(err, jetstream.ErrKeyExists):
		return store.ErrExists
	case errors.As(err, &api) && api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence:
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
	return r, mapErr(err)
}

func (k jsKV) Update(ctx context.Context, key string, v []byte, rev uint64) (uint64, error) {
	r, err := k.kv.Update(ctx, key, v, rev)
	if err = mapErr(err); errors.Is(err, store.ErrExists) {
		err = store.ErrConflict
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

func (k jsKV) Keys(ctx context.Context, prefix string) ([]string, error) {
	l, err := k.kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for key := range l.Keys() {
		if strings.HasPrefix(key, prefix) {
			out = append(out, key)
		}
	}
	return out, nil
}

func (k jsKV) Watch(context.Context, string) (<-chan *store.Change, error) {
	return nil, errors.ErrUnsupported // the login module does not watch
}
