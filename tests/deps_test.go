package tests

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLibraryDeps checks that a library package imports only what it uses:
// a service's package (what a game links to embed or extend a bundled
// service) pulls in neither the Kafka client nor the code generator, which
// only the binaries' flags (-kafka, -dump-routes) need, and package sim
// imports no bundled service's messages (its built-in scenarios live in
// pkg/sim/builtin). Nor do the broker and gate binaries link the Kafka
// client or the generator: they share svcmain/svcbase with the logic
// services, not svcmain.RunLogic. It reads `go list -deps`, so it needs the
// go command.
func TestLibraryDeps(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	const mod = "github.com/iogo-dev/iogo/"
	binaryOnly := []string{"github.com/segmentio/kafka-go", mod + "pkg/eventbus", mod + "pkg/gen"}
	tests := []struct {
		name      string
		pkg       string
		forbidden []string
	}{
		{"guild", mod + "services/logic-guild/guild", binaryOnly},
		{"login", mod + "services/logic-login/login", binaryOnly},
		{"rank", mod + "services/logic-rank/rank", binaryOnly},
		{"demo", mod + "services/logic-demo/demo", binaryOnly},
		{"logic", mod + "pkg/logic", binaryOnly},
		{"broker binary", mod + "services/broker", binaryOnly},
		{"external binary", mod + "services/external", binaryOnly},
		{"svcbase", mod + "pkg/svcmain/svcbase", append([]string{mod + "pkg/logic"}, binaryOnly...)},
		{"sim", mod + "pkg/sim", []string{mod + "proto/login", mod + "proto/guild", mod + "proto/rank", mod + "proto/demo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := exec.Command(goCmd, "list", "-deps", tt.pkg).Output()
			if err != nil {
				if ee, ok := err.(*exec.ExitError); ok {
					t.Fatalf("go list -deps %s: %v\n%s", tt.pkg, err, ee.Stderr)
				}
				t.Fatalf("go list -deps %s: %v", tt.pkg, err)
			}
			for _, dep := range strings.Fields(string(out)) {
				for _, f := range tt.forbidden {
					if dep == f || strings.HasPrefix(dep, f+"/") {
						t.Errorf("%s depends on %s (go list -deps %s)", tt.pkg, dep, tt.pkg)
					}
				}
			}
		})
	}
}
