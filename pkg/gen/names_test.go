package gen

import (
	"go/parser"
	"go/token"
	"testing"
)

func TestHandlerName(t *testing.T) {
	tests := []struct{ name, fn, want string }{
		{"function", "github.com/x/svc/login.guestLogin", "GuestLogin"},
		{"method", "github.com/x/svc/login.(*Svc).hello", "Hello"},
		{"method value", "github.com/x/svc/login.(*Module).guestLogin", "GuestLogin"},
		{"closure", "github.com/x/svc/login.Router.func1", ""},
		{"nested closure", "github.com/x/svc/login.Router.func1.2", ""},
		{"unknown", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := handlerName(tt.fn); got != tt.want {
				t.Fatalf("handlerName(%q) = %q, want %q", tt.fn, got, tt.want)
			}
		})
	}
}

func TestFuncDoc(t *testing.T) {
	const src = `package p

// hello greets.
func hello() {}

// Hello is a method.
func (s *S) Hello() {}

func bare() {}
`
	f, err := parser.ParseFile(token.NewFileSet(), "p.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, fn, want string }{
		{"function, name dropped", "x/p.hello", "Greets."},
		{"method", "x/p.(*S).Hello", "Is a method."},
		{"no doc", "x/p.bare", ""},
		{"missing", "x/p.nothing", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := funcDoc(f, tt.fn); got != tt.want {
				t.Fatalf("funcDoc(%q) = %q, want %q", tt.fn, got, tt.want)
			}
		})
	}
}
