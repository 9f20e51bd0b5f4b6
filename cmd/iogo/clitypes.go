package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/registry"
	"github.com/iogo-dev/iogo/pkg/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	// The payload types of the bundled services, resolvable by name.
	_ "github.com/iogo-dev/iogo/proto/demo"
	_ "github.com/iogo-dev/iogo/proto/iohao"
	_ "github.com/iogo-dev/iogo/proto/login"
	_ "google.golang.org/protobuf/types/known/emptypb"
)

// cliRoute is a route as the console knows it.
type cliRoute struct {
	registry.Route
	// Source is "registry" or "bundled".
	Source string
}

// typeBook knows routes, pushes and payload types: the bundled services'
// from the binary, a cluster's from the route registry.
type typeBook struct {
	routes map[int32]cliRoute
	pushes map[int32]string // push route → payload type
	types  *registry.Types  // nil: only the linked-in types
	// fromRegistry reports that the routes came from the registry at
	// source.
	fromRegistry bool
	source       string
}

// bundledBook returns the routes of the services `iogo dev` runs.
func bundledBook() *typeBook {
	b := &typeBook{routes: make(map[int32]cliRoute), pushes: make(map[int32]string)}
	for _, svc := range devServices() {
		src := svc.source()
		if ps, ok := src.(logic.PushSource); ok {
			for _, p := range ps.Pushes() {
				b.pushes[p.CmdMerge()] = p.Type
			}
		}
		routes, err := src.Routes()
		if err != nil {
			continue
		}
		for _, r := range routes {
			b.routes[r.CmdMerge()] = cliRoute{Source: "bundled", Route: registry.Route{
				Cmd: r.Cmd, Sub: r.Sub, Service: svc.name, Access: r.Access, Req: r.Req, Resp: r.Resp, Void: r.Void, Doc: r.Doc,
			}}
		}
	}
	return b
}

// loadRegistry reads the routes, pushes and descriptors from the route
// registry at the NATS URLs in brokers. Routes found there replace the
// bundled ones; descriptors make unlinked types resolvable.
func (b *typeBook) loadRegistry(ctx context.Context, brokers string, auth []nats.Option) error {
	nc, err := connectTool(brokers, "iogo cli", 2*time.Second, auth)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	reg, err := registry.Open(ctx, js)
	if err != nil {
		return err
	}
	routes, err := reg.Routes(ctx)
	if err != nil {
		return err
	}
	instances, err := reg.Instances(ctx)
	if err != nil {
		return err
	}
	served := make(map[int32]bool)
	var sets [][]byte
	for _, in := range instances {
		for _, m := range in.Routes {
			served[m] = true
		}
		for _, p := range in.Pushes {
			b.pushes[wire.Merge(p.Cmd, p.Sub)] = p.Type
		}
		if len(in.Descriptors) > 0 {
			sets = append(sets, in.Descriptors)
		}
	}
	b.types = registry.NewTypes(sets, nil) // a file that does not build is skipped
	if len(routes) == 0 {
		return nil // an empty registry: keep the bundled routes
	}
	b.fromRegistry, b.source = true, brokers
	b.routes = make(map[int32]cliRoute, len(routes))
	for _, r := range routes {
		src := "registry"
		if !served[r.Merge()] {
			src = "registry (no live instance)"
		}
		b.routes[r.Merge()] = cliRoute{Route: r, Source: src}
	}
	return nil
}

// sorted returns the routes ordered by route.
func (b *typeBook) sorted() []cliRoute {
	out := make([]cliRoute, 0, len(b.routes))
	for _, r := range b.routes {
		out = append(out, r)
	}
	slices.SortFunc(out, func(x, y cliRoute) int { return int(x.Merge()) - int(y.Merge()) })
	return out
}

// messageType resolves a protobuf full name: the registry's descriptors
// (as dynamic messages) first, then the linked-in types.
func (b *typeBook) messageType(name string) (protoreflect.MessageType, error) {
	var find func(protoreflect.FullName) (protoreflect.MessageType, error) = protoregistry.GlobalTypes.FindMessageByName
	if b.types != nil {
		find = b.types.FindMessageByName
	}
	if mt, err := find(protoreflect.FullName(name)); err == nil {
		return mt, nil
	}
	return nil, fmt.Errorf("unknown message type %q", name)
}

// listElem splits "iohao.ByteValueList<pkg.Msg>" into its element type.
func listElem(name string) (string, bool) {
	outer, inner, ok := strings.Cut(name, "<")
	if !ok || outer != "iohao.ByteValueList" || !strings.HasSuffix(inner, ">") {
		return "", false
	}
	return strings.TrimSuffix(inner, ">"), true
}

// errNoType marks a payload whose type is not known: raw bytes are used.
var errNoType = errors.New("no type")

// encode turns the console's input for a payload of type name into bytes
// in codec c. JSON input is protojson; for ioGame's value wrappers a bare
// JSON value (5, "x", [1,2]) is accepted too. An empty input is an empty
// payload. Input for a raw or unknown type is sent as it is, or decoded
// from hex when it starts with "hex:".
func (b *typeBook) encode(c wire.Codec, name, input string) ([]byte, error) {
	input = strings.TrimSpace(input)
	if name == "" || name == "bytes" {
		return rawInput(input)
	}
	if input == "" {
		return nil, nil
	}
	if elem, ok := listElem(name); ok {
		mt, err := b.messageType(elem)
		if err != nil {
			return nil, err
		}
		var items []json.RawMessage
		if err := json.Unmarshal([]byte(input), &items); err != nil {
			return nil, fmt.Errorf("want a JSON array of %s: %w", elem, err)
		}
		list := &iohaoList{}
		for i, it := range items {
			m := mt.New().Interface()
			if err := protojson.Unmarshal(it, m); err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			el, err := c.AppendPayload(nil, m)
			if err != nil {
				return nil, err
			}
			list.values = append(list.values, el)
		}
		return list.encode(b, c)
	}
	mt, err := b.messageType(name)
	if err != nil {
		return nil, err
	}
	m := mt.New().Interface()
	js := []byte(wrapBare(name, input))
	if err := (protojson.UnmarshalOptions{}).Unmarshal(js, m); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c.AppendPayload(nil, m)
}

// iohaoList builds an iohao.ByteValueList through the type book, so it
// works whether or not the wrapper is linked in.
type iohaoList struct{ values [][]byte }

func (l *iohaoList) encode(b *typeBook, c wire.Codec) ([]byte, error) {
	mt, err := b.messageType("iohao.ByteValueList")
	if err != nil {
		return nil, err
	}
	m := mt.New()
	fd := m.Descriptor().Fields().ByName("values")
	list := m.Mutable(fd).List()
	for _, v := range l.values {
		list.Append(protoreflect.ValueOfBytes(v))
	}
	return c.AppendPayload(nil, m.Interface())
}

// wrapBare wraps a bare JSON value for an ioGame value wrapper: 5 becomes
// {"value":5} for iohao.LongValue, [1,2] {"values":[1,2]} for
// iohao.LongValueList. Objects and other types pass unchanged.
func wrapBare(name, input string) string {
	if !strings.HasPrefix(name, "iohao.") || strings.HasPrefix(input, "{") {
		return input
	}
	if strings.HasSuffix(name, "ValueList") {
		return `{"values":` + input + `}`
	}
	if strings.HasSuffix(name, "Value") {
		if name == "iohao.StringValue" && !strings.HasPrefix(input, `"`) {
			b, _ := json.Marshal(input) // a bare word is a string
			return `{"value":` + string(b) + `}`
		}
		return `{"value":` + input + `}`
	}
	return input
}

func rawInput(input string) ([]byte, error) {
	if h, ok := strings.CutPrefix(input, "hex:"); ok {
		return hex.DecodeString(strings.ReplaceAll(h, " ", ""))
	}
	if input == "" {
		return nil, nil
	}
	return []byte(input), nil
}

// decode renders a payload of type name as JSON for the console; an
// unknown type or a payload that does not decode is shown as hex.
func (b *typeBook) decode(c wire.Codec, name string, data []byte) string {
	if len(data) == 0 && name == "" {
		return "(empty)"
	}
	show := func(m proto.Message) string {
		out, err := protojson.MarshalOptions{EmitUnpopulated: false}.Marshal(m)
		if err != nil {
			return hexOf(data)
		}
		return unwrapBare(name, compactJSON(out))
	}
	if name == "" || name == "bytes" {
		return hexOf(data)
	}
	if elem, ok := listElem(name); ok {
		lt, err1 := b.messageType("iohao.ByteValueList")
		et, err2 := b.messageType(elem)
		if err1 != nil || err2 != nil {
			return hexOf(data)
		}
		lm := lt.New().Interface()
		if c.UnmarshalPayload(data, lm) != nil {
			return hexOf(data)
		}
		fd := lm.ProtoReflect().Descriptor().Fields().ByName("values")
		vals := lm.ProtoReflect().Get(fd).List()
		parts := make([]string, vals.Len())
		for i := range vals.Len() {
			m := et.New().Interface()
			if c.UnmarshalPayload(vals.Get(i).Bytes(), m) != nil {
				return hexOf(data)
			}
			out, _ := protojson.Marshal(m)
			parts[i] = compactJSON(out)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	mt, err := b.messageType(name)
	if err != nil {
		return hexOf(data)
	}
	m := mt.New().Interface()
	if c.UnmarshalPayload(data, m) != nil {
		return hexOf(data)
	}
	return show(m)
}

// unwrapBare shows an ioGame value wrapper as its bare value.
func unwrapBare(name, js string) string {
	if !strings.HasPrefix(name, "iohao.") || !strings.HasSuffix(name, "Value") && !strings.HasSuffix(name, "ValueList") {
		return js
	}
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(js), &m) != nil {
		return js
	}
	for _, k := range []string{"value", "values"} {
		if v, ok := m[k]; ok {
			if strings.HasPrefix(name, "iohao.Long") {
				// protojson quotes 64-bit integers; a console shows numbers.
				return strings.ReplaceAll(string(v), `"`, "")
			}
			return string(v)
		}
	}
	if strings.HasSuffix(name, "ValueList") {
		return "[]"
	}
	if name == "iohao.StringValue" {
		return `""`
	}
	if name == "iohao.BoolValue" {
		return "false"
	}
	return "0" // a zero number is not emitted
}

func compactJSON(b []byte) string {
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return string(b)
	}
	return out.String()
}

func hexOf(b []byte) string {
	if len(b) == 0 {
		return "(empty)"
	}
	return fmt.Sprintf("(%d bytes) hex:%x", len(b), b)
}
