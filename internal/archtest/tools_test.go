package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

// TestToolsStayOutOfTheNode keeps the benchmark and the demo out of the node: they may import internal/app, but
// internal/app (the wiring) must not import them.
func TestToolsStayOutOfTheNode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/vigil-ids/vigil/internal/app").CombinedOutput()
	if err != nil {
		t.Fatalf("go list internal/app: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, tool := range []string{"github.com/vigil-ids/vigil/internal/bench", "github.com/vigil-ids/vigil/internal/demo"} {
			if dep == tool {
				t.Errorf("internal/app depends on %s", dep)
			}
		}
	}
}
