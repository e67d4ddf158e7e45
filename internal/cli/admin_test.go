package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdmin creates an admin account through vigil admin create (password from stdin, the single node's key
// generated into DATA_DIR/auth.key) against a real NATS server, then rotates the key; a command line without its
// required flag is a usage error before any key is made.
func TestAdmin(t *testing.T) {
	_, env := natsEnv(t)
	keyFile := filepath.Join(env["VIGIL_DATA_DIR"], "auth.key")
	run := func(stdin string, args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := Vigil().Run(context.Background(), args, Env{Getenv: func(k string) string { return env[k] }, Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb})
		return out.String(), err
	}

	if _, err := run("", "admin", "create", "-role", "viewer"); ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), "-username is required") {
		t.Errorf("admin create without -username = %v; want a usage error naming -username", err)
	}
	if _, err := os.Stat(keyFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a usage error made %s: %v", keyFile, err)
	}

	out, err := run("correct horse battery staple\n", "admin", "create", "-username", "root")
	if err != nil || !strings.Contains(out, `created admin account "root"`) {
		t.Fatalf("admin create = %q, %v", out, err)
	}
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("generated key %s: %v, %v; want a 0600 file", keyFile, st, err)
	}
	if _, err := run("correct horse battery staple\n", "admin", "create", "-username", "root"); err == nil || ExitCode(err) != ExitError {
		t.Errorf("creating root twice = %v; want a failure (exit code 1)", err)
	}

	if _, err := run("", "admin", "rotate-key"); ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), "-new-key-file is required") {
		t.Errorf("admin rotate-key without -new-key-file = %v; want a usage error", err)
	}
	newKey := filepath.Join(t.TempDir(), "new.key")
	if err := os.WriteFile(newKey, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = run("", "admin", "rotate-key", "-new-key-file", newKey)
	if err != nil || !strings.Contains(out, "re-encrypted the secrets of") || !strings.Contains(out, "VIGIL_AUTH_KEY_FILE="+newKey) {
		t.Errorf("admin rotate-key = %q, %v", out, err)
	}
}
