package route

import (
	"errors"
	"fmt"
	"strings"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/iogo-dev/iogo/pkg/errs"
)

// A checker validates a decoded request against the buf.validate rules of
// its message type. It is built once per route, at registration; a request
// type without rules gets none (nil), so it costs nothing per request.
type checker func(any) error

// newChecker returns the checker of request type Req: nil when Req is not
// a protobuf message or neither it nor a message it contains carries a
// buf.validate rule. The rules are compiled here, not on the first request.
func newChecker[Req any]() (checker, error) {
	var zero Req
	msg, ok := any(zero).(proto.Message)
	if !ok || !hasRules(msg.ProtoReflect().Descriptor(), map[protoreflect.FullName]bool{}) {
		return nil, nil
	}
	v, err := protovalidate.New(protovalidate.WithMessages(msg), protovalidate.WithDisableLazy())
	if err != nil {
		return nil, fmt.Errorf("validation rules of %s: %w", msg.ProtoReflect().Descriptor().FullName(), err)
	}
	return func(req any) error {
		m, _ := req.(proto.Message)
		if m == nil {
			return nil
		}
		return violation(v.Validate(m))
	}, nil
}

// hasRules reports whether messages of type md carry a buf.validate rule:
// on the message, a oneof or a field, or in a message one of its fields
// holds (including repeated fields and map values), at any depth.
func hasRules(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) bool {
	if seen[md.FullName()] {
		return false
	}
	seen[md.FullName()] = true
	if proto.HasExtension(md.Options(), validate.E_Message) {
		return true
	}
	for i := range md.Oneofs().Len() {
		if proto.HasExtension(md.Oneofs().Get(i).Options(), validate.E_Oneof) {
			return true
		}
	}
	for i := range md.Fields().Len() {
		f := md.Fields().Get(i)
		if proto.HasExtension(f.Options(), validate.E_Field) {
			return true
		}
		if f.IsMap() {
			f = f.MapValue()
		}
		if f.Message() != nil && hasRules(f.Message(), seen) {
			return true
		}
	}
	return false
}

// violation turns a protovalidate error into the -1001 the caller gets:
// each broken rule as "field.path: message [rule.id]", joined by "; ". A
// runtime failure of a rule (not a violation) is a system error.
func violation(err error) error {
	if err == nil {
		return nil
	}
	ve, ok := errors.AsType[*protovalidate.ValidationError](err)
	if !ok {
		return fmt.Errorf("route: validating a request: %w", err)
	}
	var b strings.Builder
	for i, v := range ve.Violations {
		if i > 0 {
			b.WriteString("; ")
		}
		p := v.Proto
		if f := protovalidate.FieldPathString(p.GetField()); f != "" {
			b.WriteString(f)
			b.WriteString(": ")
		}
		b.WriteString(p.GetMessage())
		if id := p.GetRuleId(); id != "" {
			b.WriteString(" [")
			b.WriteString(id)
			b.WriteString("]")
		}
	}
	return errs.ErrValidation.WithMsg(b.String())
}
