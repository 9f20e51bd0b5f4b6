package builtin_test

import (
	"strings"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/sim"
	"github.com/iogo-dev/iogo/pkg/sim/builtin"
)

func TestCatalog(t *testing.T) {
	c := builtin.Catalog()
	if got, want := strings.Join(c.Names(), ","), "echo,hello,idle,login"; got != want {
		t.Fatalf("names %s, want %s", got, want)
	}
	for _, name := range c.Names() {
		t.Run(name, func(t *testing.T) {
			sc, err := c.Build(name, sim.Params{Payload: 8, Think: time.Millisecond, Run: "t"})
			if err != nil {
				t.Fatal(err)
			}
			if sc.Name != name || sc.Doc == "" || len(sc.Loop) == 0 {
				t.Fatalf("scenario %q, doc %q, %d loop steps", sc.Name, sc.Doc, len(sc.Loop))
			}
		})
	}
}

func TestEchoNegativePayload(t *testing.T) {
	if _, err := builtin.Catalog().Build("echo", sim.Params{Payload: -1}); err == nil {
		t.Fatal("a negative payload was accepted")
	}
}
