package gen

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// fieldRules renders the buf.validate (protovalidate) rules of a field for
// docs, such as `string.min_len = 3, string.max_len = 32`; "" when it has
// none. It reads the options reflectively, by name, so that package gen
// needs no protovalidate code.
func fieldRules(f protoreflect.FieldDescriptor) string {
	opts := f.Options()
	if opts == nil {
		return ""
	}
	var parts []string
	opts.ProtoReflect().Range(func(xd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if xd.IsExtension() && xd.FullName() == "buf.validate.field" && xd.Message() != nil {
			parts = appendRules(parts, "", v.Message())
		}
		return true
	})
	return strings.Join(parts, ", ")
}

// appendRules appends "prefix.name = value" for each set field of m, in
// field-number order, descending into messages.
func appendRules(parts []string, prefix string, m protoreflect.Message) []string {
	var fds []protoreflect.FieldDescriptor
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		fds = append(fds, fd)
		return true
	})
	slices.SortFunc(fds, func(a, b protoreflect.FieldDescriptor) int { return int(a.Number() - b.Number()) })
	for _, fd := range fds {
		name := prefix + string(fd.Name())
		v := m.Get(fd)
		switch {
		case fd.IsList():
			l := v.List()
			items := make([]string, l.Len())
			for i := range l.Len() {
				items[i] = ruleValue(fd, l.Get(i))
			}
			parts = append(parts, name+" = ["+strings.Join(items, ", ")+"]")
		case fd.Message() != nil && !fd.IsMap():
			parts = appendRules(parts, name+".", v.Message())
		default:
			parts = append(parts, name+" = "+ruleValue(fd, v))
		}
	}
	return parts
}

func ruleValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) string {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return strconv.Quote(v.String())
	case protoreflect.BytesKind:
		return strconv.Quote(string(v.Bytes()))
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return strconv.Itoa(int(v.Enum()))
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return "{…}"
	}
	return fmt.Sprint(v.Interface())
}
