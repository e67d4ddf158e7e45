package testenv

import (
	"os"
	"slices"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// WriteFile writes s to path, failing the test on an error.
func WriteFile(t testing.TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// AppendFile appends s to path (created if missing), as a logging program does.
func AppendFile(t testing.TB, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// StoredIDs waits until stream s holds exactly want messages and returns their event ids, sorted.
func StoredIDs(t testing.TB, s jetstream.Stream, want uint64) []string {
	t.Helper()
	var ids []string
	for _, e := range StoredEvents(t, s, want) {
		ids = append(ids, e.ID)
	}
	slices.Sort(ids)
	return ids
}
