package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/internal/netset"
)

// TestTrust adds, lists and removes a trusted network through vigil trust against a real NATS server, and refuses
// every malformed command line.
func TestTrust(t *testing.T) {
	_, env := natsEnv(t)
	ctx := context.Background()
	run := func(args ...string) (string, error) {
		stdout, stderr, err := vigil(ctx, env, append([]string{"trust"}, args...)...)
		return stdout + stderr, err
	}
	out, err := run("add", "-scope", "domain", "-subject", "example.org", "-description", "Paris office", "203.0.113.77/24")
	if err != nil || !strings.Contains(out, "203.0.113.0/24") {
		t.Fatalf("add: %q, %v", out, err)
	}
	id := strings.TrimSuffix(strings.Fields(out)[1], ":")
	for _, bad := range [][]string{
		{"add", "-scope", "domain", "-subject", "example.org", "198.51.100.0/24"},    // no description
		{"add", "-scope", "global", "-description", "everyone", "0.0.0.0/0"},         // too wide
		{"add", "-scope", "user", "-description", "x", "198.51.100.0/24"},            // no subject
		{"add", "-scope", "global", "-description", "x", "01.2.3.4"},                 // leading zero
		{"add", "-scope", "global", "-description", "x", "198.51.100.0/24", "extra"}, // two prefixes
		{"remove", "0000000000000000"}, {"frobnicate"}, {},
	} {
		t.Run(strings.Join(bad, " "), func(t *testing.T) {
			if out, err := run(bad...); err == nil {
				t.Errorf("trust %q succeeded: %q", bad, out)
			}
		})
	}
	out, err = run("list")
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "Paris office") || !strings.Contains(out, "example.org") {
		t.Errorf("list: %q, %v", out, err)
	}
	out, err = run("list", "-json")
	var es []netset.Entry
	if err != nil || json.Unmarshal([]byte(out), &es) != nil || len(es) != 1 {
		t.Errorf("list -json: %q, %v", out, err)
	}
	if out, err := run("remove", id); err != nil || !strings.Contains(out, "removed") {
		t.Errorf("remove: %q, %v", out, err)
	}
}
