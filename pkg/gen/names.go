package gen

import (
	"fmt"
	"strings"
	"unicode"
)

// bareTypes maps ioGame's wrapper messages to the bare values they carry,
// in Go.
var bareGo = map[string]string{
	"iohao.IntValue":        "int32",
	"iohao.LongValue":       "int64",
	"iohao.BoolValue":       "bool",
	"iohao.StringValue":     "string",
	"iohao.IntValueList":    "[]int32",
	"iohao.LongValueList":   "[]int64",
	"iohao.BoolValueList":   "[]bool",
	"iohao.StringValueList": "[]string",
	"bytes":                 "[]byte",
}

// exported returns s with its first letter upper-cased and every
// character that cannot appear in an identifier dropped.
func exported(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			up = true
			continue
		}
		if up {
			r = unicode.ToUpper(r)
			up = false
		}
		b.WriteRune(r)
	}
	out := b.String()
	if out == "" || unicode.IsDigit(rune(out[0])) {
		out = "X" + out
	}
	return out
}

// routeNames names each route of s for generated code: the exported name
// of its handler function when it is a named function, else
// "Route<cmd>_<sub>"; a name used twice gets its route as a suffix.
func routeNames(s Service) []string {
	names := make([]string, len(s.Routes))
	count := make(map[string]int)
	for i, r := range s.Routes {
		names[i] = handlerName(r.Func)
		if names[i] == "" {
			names[i] = fmt.Sprintf("Route%d_%d", r.Cmd, r.Sub)
		}
		count[names[i]]++
	}
	for i, r := range s.Routes {
		if count[names[i]] > 1 {
			names[i] = fmt.Sprintf("%s%d_%d", names[i], r.Cmd, r.Sub)
		}
	}
	return names
}

// pushNames names each push of s: the short name of its message type, or
// of the bare value, with the route as a suffix when two pushes share it.
func pushNames(s Service) []string {
	names := make([]string, len(s.Pushes))
	count := make(map[string]int)
	for i, p := range s.Pushes {
		t := p.Type
		if outer, inner, ok := strings.Cut(t, "<"); ok {
			t = strings.TrimSuffix(inner, ">") + "List"
			_ = outer
		}
		names[i] = exported(t[strings.LastIndex(t, ".")+1:])
		count[names[i]]++
	}
	for i, p := range s.Pushes {
		if count[names[i]] > 1 {
			names[i] = fmt.Sprintf("%s%d_%d", names[i], p.Cmd, p.Sub)
		}
	}
	return names
}

// handlerName returns the exported name of a named handler function
// ("path/pkg.guestLogin" → "GuestLogin", "path/pkg.(*T).Hello" → "Hello"),
// or "" for closures.
func handlerName(fn string) string {
	if fn == "" {
		return ""
	}
	name := fn[strings.LastIndex(fn, "/")+1:]
	name = name[strings.LastIndex(name, ".")+1:]
	if strings.Trim(strings.TrimPrefix(name, "func"), "0123456789") == "" {
		return "" // a closure: pkg.Router.func1
	}
	return exported(name)
}
