package external

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/iogo-dev/iogo/pkg/registry"
	"github.com/iogo-dev/iogo/pkg/wire"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Push transcoding
//
// Logic servers push protobuf bytes, and a JSON session expects protojson.
// A push that names its message type in fabric.HeaderType is transcoded,
// once per push, for the JSON sessions it reaches. The type is looked up in
// the descriptors that the live logic-server instances publish in the
// registry (registry.Instance.Descriptors), so the gate needs no generated
// code for a game's messages, then among the types linked into the gate
// (protoregistry.GlobalTypes). A type found nowhere, or bytes that do not
// decode as their type, are logged once per type at warn and delivered as
// they are. Requests and responses are never transcoded: logic servers
// read and write the session's codec themselves.
//
// The type registry is rebuilt only when the set of descriptors changes,
// and only when a typed push needs it; instance heartbeats, which change
// the view but not the descriptors, cost a hash of the descriptors.

// maxTypeCache bounds the type lookups remembered, and the type names
// warned about, between two changes of the descriptors.
const maxTypeCache = 4096

// transcoder turns typed protobuf push payloads into protojson.
type transcoder struct {
	instances func() []registry.Instance
	log       *slog.Logger
	dirty     atomic.Bool // the instances may have changed since the last refresh

	mu     sync.Mutex // guards the fields below; a leaf lock
	key    [sha256.Size]byte
	types  *registry.Types
	cache  map[protoreflect.FullName]protoreflect.MessageType // nil value: unknown
	warned map[string]struct{}
}

func newTranscoder(instances func() []registry.Instance, log *slog.Logger) *transcoder {
	t := &transcoder{
		instances: instances,
		log:       log,
		types:     registry.NewTypes(nil, nil),
		cache:     make(map[protoreflect.FullName]protoreflect.MessageType),
		warned:    make(map[string]struct{}),
	}
	t.dirty.Store(true)
	return t
}

// changed notes that the live instances changed; it runs on the view's
// goroutine and does no work.
func (t *transcoder) changed() { t.dirty.Store(true) }

// refresh rebuilds the type registry if the instances' descriptors have
// changed since the last build.
func (t *transcoder) refresh() {
	if !t.dirty.Swap(false) {
		return
	}
	ins := t.instances()
	// Newest first: when two versions of a file are live during a rolling
	// update, the newer one wins.
	slices.SortFunc(ins, func(a, b registry.Instance) int {
		if c := b.Started.Compare(a.Started); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	h := sha256.New()
	var sets [][]byte
	for _, in := range ins {
		if len(in.Descriptors) == 0 {
			continue
		}
		sets = append(sets, in.Descriptors)
		_ = binary.Write(h, binary.BigEndian, uint64(len(in.Descriptors)))
		h.Write(in.Descriptors)
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])

	t.mu.Lock()
	defer t.mu.Unlock()
	if key == t.key {
		return
	}
	t.key = key
	t.types = registry.NewTypes(sets, func(file string, err error) {
		t.log.Warn("registry descriptor left out", "file", file, "err", err)
	})
	clear(t.cache)
	clear(t.warned)
}

// toJSON returns the protojson form of data, a protobuf message of type
// name, and false when it cannot (logged once per type).
func (t *transcoder) toJSON(name string, data []byte) ([]byte, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	full := protoreflect.FullName(name)
	mt, ok := t.cache[full]
	if !ok {
		mt = t.lookup(full)
		if len(t.cache) < maxTypeCache {
			t.cache[full] = mt
		}
	}
	if mt == nil {
		t.warnOnce(name, "push of an unknown type sent to JSON sessions as protobuf bytes")
		return nil, false
	}
	res := t.types
	m := mt.New().Interface()
	if err := (proto.UnmarshalOptions{Resolver: res}).Unmarshal(data, m); err != nil {
		t.warnOnce(name, "push that does not decode as its type sent to JSON sessions as it is", "err", err)
		return nil, false
	}
	b, err := protojson.MarshalOptions{Resolver: res}.Marshal(m)
	if err != nil {
		t.warnOnce(name, "push not transcoded to JSON", "err", err)
		return nil, false
	}
	return b, true
}

// lookup finds a message type in the instances' descriptors, then among
// the gate's own types. t.mu must be held.
func (t *transcoder) lookup(name protoreflect.FullName) protoreflect.MessageType {
	if !name.IsValid() {
		return nil
	}
	if mt, err := t.types.FindMessageByName(name); err == nil {
		return mt
	}
	return nil
}

// warnOnce logs msg about type name once. t.mu must be held.
func (t *transcoder) warnOnce(name, msg string, args ...any) {
	if _, ok := t.warned[name]; ok || len(t.warned) >= maxTypeCache {
		return
	}
	t.warned[name] = struct{}{}
	t.log.Warn(msg, append([]any{"type", name}, args...)...)
}

// outPush is one push on its way to sessions; its JSON form is made on
// first need. Only the push goroutine uses it.
type outPush struct {
	m    wire.Message // as pushed
	typ  string       // fabric.HeaderType; "" when absent
	tc   *transcoder
	json *wire.Message
}

// forSession returns the envelope for sess: transcoded for a JSON session
// when the push names its type.
func (p *outPush) forSession(sess *session) wire.Message {
	if p.typ == "" || sess.codec.Name() != wire.NameJSON {
		return p.m
	}
	if p.json == nil {
		j := p.m
		if b, ok := p.tc.toJSON(p.typ, p.m.Data); ok {
			j.Data = b
		}
		p.json = &j
	}
	return *p.json
}
