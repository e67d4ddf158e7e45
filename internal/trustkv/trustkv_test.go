package trustkv

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/netset"
	"github.com/vigil-ids/vigil/internal/testenv"
)

func setup(t *testing.T) (jetstream.JetStream, *Store) {
	t.Helper()
	js, err := jetstream.New(testenv.Connect(t, testenv.NATS(t)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), js, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return js, s
}

func TestAddListRemove(t *testing.T) {
	_, s := setup(t)
	ctx := context.Background()
	e, err := s.Add(ctx, netset.Entry{Scope: netset.ScopeUser, Subject: "Alice@Example.org", Prefix: netip.MustParsePrefix("203.0.113.9/24"), Description: "home"})
	if err != nil {
		t.Fatal(err)
	}
	if len(e.ID) != 16 || e.Subject != "alice@example.org" || e.Prefix.String() != "203.0.113.0/24" || e.CreatedAt.IsZero() {
		t.Errorf("Add = %+v; want an id, canonical subject and prefix, a creation time", e)
	}
	if _, err := s.Add(ctx, netset.Entry{Scope: netset.ScopeUser, Subject: "alice@example.org", Prefix: netip.MustParsePrefix("203.0.113.0/24"), Description: "again"}); !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate Add = %v; want ErrDuplicate", err)
	}
	if _, err := s.Add(ctx, netset.Entry{Scope: netset.ScopeGlobal, Prefix: netip.MustParsePrefix("10.0.0.0/8"), Description: "too wide"}); err == nil {
		t.Error("Add of a /8 = nil error")
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != e.ID {
		t.Fatalf("List = %+v, %v; want the one entry", list, err)
	}
	if err := s.Remove(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, e.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove = %v; want ErrNotFound", err)
	}
}

func TestWatcherAppliesChangesWithinASecond(t *testing.T) {
	_, s := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pre, err := s.Add(ctx, netset.Entry{Scope: netset.ScopeGlobal, Prefix: netip.MustParsePrefix("198.51.100.0/24"), Description: "office"})
	if err != nil {
		t.Fatal(err)
	}
	// A malformed record written by some other client is ignored, not fatal.
	if _, err := s.kv.Put(ctx, "badbadbadbadbad0", []byte(`{"scope":"global","prefix":"10.0.0.0/8","description":"x"}`)); err != nil {
		t.Fatal(err)
	}
	w := NewWatcher(s, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	go w.Run(ctx)
	select {
	case <-w.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("watcher not ready")
	}
	office := netip.MustParseAddr("198.51.100.7")
	if !w.Set().Trusted("a@b.c", "b.c", office) || w.Set().Len() != 1 {
		t.Fatalf("initial set: trusted=%v len=%d; want the office range only", w.Set().Trusted("a@b.c", "b.c", office), w.Set().Len())
	}
	home := netip.MustParseAddr("2001:db8:1::5")
	e, err := s.Add(ctx, netset.Entry{Scope: netset.ScopeUser, Subject: "a@b.c", Prefix: netip.MustParsePrefix("2001:db8:1::/48"), Description: "home"})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Second, "new range applied", func() bool { return w.Set().Trusted("a@b.c", "b.c", home) })
	if err := s.Remove(ctx, pre.ID); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Second, "removed range dropped", func() bool { return !w.Set().Trusted("a@b.c", "b.c", office) })
	if err := s.Remove(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Second, "empty set", func() bool { return w.Set().Len() == 0 })
}
