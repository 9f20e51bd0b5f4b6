package logic

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/trace"
	"github.com/iogo-dev/iogo/pkg/wire"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// DefaultDebugMaxPayload is how many bytes of a request's params or of a
// response DebugConfig prints by default.
const DefaultDebugMaxPayload = 512

// DebugConfig turns on the debug in/out block (ioGame's DebugInOut): for
// every request a compact block with the handler's source and function,
// the user, the route, params, the response or error, the duration, the
// instance and worker, the transport and the trace ID. It is meant for
// development (`iogo dev` turns it on); a nil *DebugConfig costs nothing.
type DebugConfig struct {
	// Writer receives the blocks; default os.Stderr. Blocks are written
	// whole, one Write call each, under a lock.
	Writer io.Writer
	// Threshold prints only requests that took at least this long; 0
	// prints every request.
	Threshold time.Duration
	// MaxPayload truncates params and response to this many bytes of
	// JSON; default DefaultDebugMaxPayload.
	MaxPayload int
	// Now returns the current time (tests); default time.Now.
	Now func() time.Time
}

// debugOut is a running DebugConfig.
type debugOut struct {
	cfg DebugConfig
	mu  sync.Mutex // serialises writes
}

func newDebugOut(c *DebugConfig) *debugOut {
	if c == nil {
		return nil
	}
	d := &debugOut{cfg: *c}
	if d.cfg.Writer == nil {
		d.cfg.Writer = os.Stderr
	}
	if d.cfg.MaxPayload <= 0 {
		d.cfg.MaxPayload = DefaultDebugMaxPayload
	}
	if d.cfg.Now == nil {
		d.cfg.Now = time.Now
	}
	return d
}

// debugRecord is what one block shows.
type debugRecord struct {
	route    *Route
	meta     *fabric.Meta
	in, out  []byte
	err      *errs.Error
	took     time.Duration
	service  string
	instance string
	worker   string
	traceID  string
}

// write prints rec's block if it took at least the threshold.
func (d *debugOut) write(rec *debugRecord) {
	if rec.took < d.cfg.Threshold {
		return
	}
	b := d.format(rec)
	d.mu.Lock()
	_, _ = io.WriteString(d.cfg.Writer, b)
	d.mu.Unlock()
}

// format renders a block:
//
//	┏━━ iogo debug ━━ demo.Hello (/src/demo/hello.go:42)
//	┣ user: 7
//	┣ route: 1-0 (merge 65536)
//	┣ params: {"name":"x"}
//	┣ response: {"text":"hi"}
//	┣ took: 1.2ms
//	┣ instance: demo-1 (service demo) worker: user 7
//	┣ transport: gate ext-1 session 3 msg 9 codec protobuf ip 203.0.113.7
//	┣ trace: 4bf92f3577b34da6a3ce929d0e0e4736
//	┗━━
func (d *debugOut) format(rec *debugRecord) string {
	r, m := rec.route, rec.meta
	var b strings.Builder
	b.WriteString("┏━━ iogo debug ━━ ")
	b.WriteString(r.Func)
	b.WriteString(" (")
	b.WriteString(r.Source())
	b.WriteString(")\n┣ user: ")
	b.WriteString(strconv.FormatInt(m.UserID, 10))
	b.WriteString("\n┣ route: ")
	b.WriteString(r.String())
	b.WriteString(" (merge ")
	b.WriteString(strconv.FormatInt(int64(r.CmdMerge()), 10))
	b.WriteString(")\n┣ params: ")
	b.WriteString(d.payload(r.Req, rec.in, m.Codec))
	switch {
	case rec.err != nil:
		fmt.Fprintf(&b, "\n┣ error: %d %s", rec.err.Code, rec.err.Msg)
	case r.Void:
		b.WriteString("\n┣ response: (void)")
	default:
		b.WriteString("\n┣ response: ")
		b.WriteString(d.payload(r.Resp, rec.out, m.Codec))
	}
	b.WriteString("\n┣ took: ")
	b.WriteString(rec.took.String())
	fmt.Fprintf(&b, "\n┣ instance: %s (service %s) worker: %s", rec.instance, rec.service, rec.worker)
	if m.Gate != "" {
		codec := m.Codec
		if codec == "" {
			codec = wire.NameProtobuf
		}
		fmt.Fprintf(&b, "\n┣ transport: gate %s session %d msg %d codec %s", m.Gate, m.Session, m.MsgID, codec)
		if ip := attrIP(m.Attrs); ip != "" {
			b.WriteString(" ip ")
			b.WriteString(ip) // the client's address, as the gate saw it or a trusted proxy named it
		}
	} else {
		fmt.Fprintf(&b, "\n┣ transport: server-to-server call depth %d", m.Depth)
	}
	if rec.traceID != "" {
		b.WriteString("\n┣ trace: ")
		b.WriteString(rec.traceID)
	}
	b.WriteString("\n┗━━\n")
	return b.String()
}

// attrIP returns the session attribute fabric.AttrIP of a request's
// attributes (fabric.HeaderAttrs), or "".
func attrIP(attrs string) string {
	if attrs == "" {
		return ""
	}
	v, _ := url.ParseQuery(attrs) // a malformed part is skipped
	return v.Get(fabric.AttrIP)
}

// payload renders an encoded payload of protobuf type typeName as JSON,
// truncated to MaxPayload bytes. Fields marked [debug_redact = true] in
// the .proto (passwords, tokens) are shown as "[redacted]".
func (d *debugOut) payload(typeName string, data []byte, codec string) string {
	s := protoJSON(typeName, data, codec == wire.NameJSON)
	if s == "" {
		s = "{}"
	}
	if len(s) > d.cfg.MaxPayload {
		s = s[:d.cfg.MaxPayload] + "…(" + strconv.Itoa(len(s)) + " bytes)"
	}
	return s
}

// protoJSON decodes data (protobuf, or protojson when isJSON) as the
// message typeName, redacts it and renders it in single-line protojson. A
// type this binary does not know is shown as its size; so is JSON that
// does not decode, unless its type has no redacted field.
func protoJSON(typeName string, data []byte, isJSON bool) string {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(typeName))
	if err != nil {
		if isJSON {
			return string(data) // a bare value: no fields to redact
		}
		return fmt.Sprintf("(%s, %d bytes)", typeName, len(data))
	}
	if isJSON && !hasRedacted(mt.Descriptor(), 0) {
		return string(data)
	}
	msg := mt.New().Interface()
	if isJSON {
		err = protojson.Unmarshal(data, msg)
	} else {
		err = proto.Unmarshal(data, msg)
	}
	if err != nil {
		return fmt.Sprintf("(undecodable %s, %d bytes)", typeName, len(data))
	}
	redact(msg.ProtoReflect())
	out, err := protojson.MarshalOptions{}.Marshal(msg)
	if err != nil {
		return fmt.Sprintf("(%s, %d bytes)", typeName, len(data))
	}
	// protojson may add random spaces for stability checks; compact them.
	return strings.Join(strings.Fields(string(out)), " ")
}

// redacted replaces the value of a string or bytes field marked
// [debug_redact = true]; other marked fields are cleared.
const redacted = "[redacted]"

// redact hides the fields of m marked [debug_redact = true], in nested
// messages too.
func redact(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if isRedacted(fd) {
			switch {
			case fd.IsList() || fd.IsMap():
				m.Clear(fd)
			case fd.Kind() == protoreflect.StringKind:
				m.Set(fd, protoreflect.ValueOfString(redacted))
			case fd.Kind() == protoreflect.BytesKind:
				m.Set(fd, protoreflect.ValueOfBytes([]byte(redacted)))
			default:
				m.Clear(fd)
			}
			return true
		}
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := range l.Len() {
				redact(l.Get(i).Message())
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				redact(mv.Message())
				return true
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			redact(v.Message())
		}
		return true
	})
}

func isRedacted(fd protoreflect.FieldDescriptor) bool {
	o, ok := fd.Options().(*descriptorpb.FieldOptions)
	return ok && o.GetDebugRedact()
}

// hasRedacted reports whether md or a message in its fields has a field
// marked [debug_redact = true] (depth bounds recursive types).
func hasRedacted(md protoreflect.MessageDescriptor, depth int) bool {
	if depth > 8 {
		return false
	}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if isRedacted(fd) {
			return true
		}
		if fd.IsMap() {
			fd = fd.MapValue()
		}
		if sub := fd.Message(); sub != nil && hasRedacted(sub, depth+1) {
			return true
		}
	}
	return false
}

// String names the executor key for the debug block.
func (k execKey) String() string {
	switch {
	case k.named:
		return "key " + k.name
	case k.depth != 0 && k.user != 0:
		return "user " + strconv.FormatInt(k.user, 10) + " call depth " + strconv.Itoa(int(k.depth))
	case k.depth != 0:
		return "call " + strconv.FormatUint(k.sid, 10) + " depth " + strconv.Itoa(int(k.depth))
	case k.user != 0:
		return "user " + strconv.FormatInt(k.user, 10)
	default:
		return "session " + k.gate + "/" + strconv.FormatUint(k.sid, 10)
	}
}

// debugRun records one request for the debug block.
func (s *Server) debugRun(t task, c *Ctx, began time.Time, out []byte, e *errs.Error) {
	s.debug.write(&debugRecord{
		route:    t.route,
		meta:     &t.meta,
		in:       t.msg.Data,
		out:      out,
		err:      e,
		took:     s.debug.cfg.Now().Sub(began),
		service:  s.cfg.Service,
		instance: s.cfg.InstanceID,
		worker:   keyOf(&t.meta).String(),
		traceID:  trace.ID(c.ctx),
	})
}
