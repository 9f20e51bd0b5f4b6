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
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
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
	types  *dynamicpb.Types
	cache  map[protoreflect.FullName]protoreflect.MessageType // nil value: unknown
	warned map[string]struct{}
}

func newTranscoder(instances func() []registry.Instance, log *slog.Logger) *transcoder {
	t := &transcoder{
		instances: instances,
		log:       log,
		types:     dynamicpb.NewTypes(new(protoregistry.Files)),
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
	t.types = dynamicpb.NewTypes(buildFiles(sets, t.log))
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
	res := resolver{types: t.types}
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
	if mt, err := protoregistry.GlobalTypes.FindMessageByName(name); err == nil {
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

// buildFiles builds one file registry from serialized FileDescriptorSets.
// A file named in several sets is taken from the first. Imports resolve
// within the sets, then among the files linked into the gate. A file that
// does not build is logged and left out, with the files importing it.
func buildFiles(sets [][]byte, log *slog.Logger) *protoregistry.Files {
	b := fileBuilder{
		protos: make(map[string]*descriptorpb.FileDescriptorProto),
		files:  new(protoregistry.Files),
		state:  make(map[string]uint8),
		log:    log,
	}
	var order []string
	for _, raw := range sets {
		var set descriptorpb.FileDescriptorSet
		if err := proto.Unmarshal(raw, &set); err != nil {
			log.Warn("malformed descriptor set in the service registry", "err", err)
			continue
		}
		for _, f := range set.GetFile() {
			if _, ok := b.protos[f.GetName()]; !ok {
				b.protos[f.GetName()] = f
				order = append(order, f.GetName())
			}
		}
	}
	for _, name := range order {
		b.add(name)
	}
	return b.files
}

type fileBuilder struct {
	protos map[string]*descriptorpb.FileDescriptorProto
	files  *protoregistry.Files
	state  map[string]uint8 // 1 while its imports are being added, 2 when done
	log    *slog.Logger
}

// add registers file name after its imports.
func (b *fileBuilder) add(name string) {
	fdp, ok := b.protos[name]
	if !ok || b.state[name] != 0 {
		return // not in the sets (resolved from the gate's files), or seen
	}
	b.state[name] = 1
	for _, dep := range fdp.GetDependency() {
		if b.state[dep] == 1 {
			b.log.Warn("import cycle in registry descriptors", "file", name, "import", dep)
			b.state[name] = 2
			return
		}
		b.add(dep)
	}
	b.state[name] = 2
	fd, err := protodesc.NewFile(fdp, resolver{files: b.files})
	if err == nil {
		err = b.files.RegisterFile(fd)
	}
	if err != nil {
		b.log.Warn("registry descriptor left out", "file", name, "err", err)
	}
}

// resolver looks up descriptors and types built from the registry, then
// the gate's own (protoregistry.GlobalFiles, protoregistry.GlobalTypes).
type resolver struct {
	files *protoregistry.Files // for protodesc.NewFile
	types *dynamicpb.Types     // for decoding and encoding
}

func (r resolver) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	if fd, err := r.files.FindFileByPath(path); err == nil {
		return fd, nil
	}
	return protoregistry.GlobalFiles.FindFileByPath(path)
}

func (r resolver) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	if d, err := r.files.FindDescriptorByName(name); err == nil {
		return d, nil
	}
	return protoregistry.GlobalFiles.FindDescriptorByName(name)
}

func (r resolver) FindMessageByName(name protoreflect.FullName) (protoreflect.MessageType, error) {
	if mt, err := r.types.FindMessageByName(name); err == nil {
		return mt, nil
	}
	return protoregistry.GlobalTypes.FindMessageByName(name)
}

func (r resolver) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	if mt, err := r.types.FindMessageByURL(url); err == nil {
		return mt, nil
	}
	return protoregistry.GlobalTypes.FindMessageByURL(url)
}

func (r resolver) FindExtensionByName(name protoreflect.FullName) (protoreflect.ExtensionType, error) {
	if xt, err := r.types.FindExtensionByName(name); err == nil {
		return xt, nil
	}
	return protoregistry.GlobalTypes.FindExtensionByName(name)
}

func (r resolver) FindExtensionByNumber(message protoreflect.FullName, field protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	if xt, err := r.types.FindExtensionByNumber(message, field); err == nil {
		return xt, nil
	}
	return protoregistry.GlobalTypes.FindExtensionByNumber(message, field)
}
