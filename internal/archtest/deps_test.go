package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDomainPackagesStayPure keeps NATS, ClickHouse and net/http out of the domain packages.
func TestDomainPackagesStayPure(t *testing.T) {
	domain := []string{"event", "window", "rule", "engine", "incident", "netset", "gen"}
	forbidden := []string{"github.com/nats-io/", "github.com/ClickHouse/", "net/http", "github.com/vigil-ids/vigil/internal/natsbus", "github.com/vigil-ids/vigil/internal/chstore"}
	for _, pkg := range domain {
		out, err := exec.Command("go", "list", "-deps", "github.com/vigil-ids/vigil/internal/"+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if strings.HasPrefix(dep, f) {
					t.Errorf("internal/%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
