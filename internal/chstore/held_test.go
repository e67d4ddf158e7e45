package chstore

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestHeldNewestVersionWins: a held record that arrives again after the release (a redelivery) has the older
// version and does not undo it; each incident lists its own messages.
func TestHeldNewestVersionWins(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	at := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)
	held := HeldRow{Host: "mx1", QueueID: "E3F44D031A", IncidentID: "0123456789abcdef0123456789abcdef", User: "bob@example.org", Domain: "example.org",
		Sender: "bob@example.org", Recipients: 2, Size: 300, HeldAt: at, Status: HeldStatus, ChangedAt: at, Version: uint64(at.UnixNano())}
	released := held
	released.Status, released.Actor, released.ChangedAt, released.Version = HeldReleased, "root", at.Add(time.Minute), uint64(at.Add(time.Minute).UnixNano())
	other := held
	other.QueueID, other.IncidentID = "3Pt2mN2VXxznjll", "ffffffffffffffffffffffffffffffff"
	for _, batch := range [][]HeldRow{{held, other}, {released}, {held}} {
		if err := s.WriteHeld(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	got, ok, err := s.HeldMessage(ctx, "mx1", "E3F44D031A")
	if err != nil || !ok || !cmp.Equal(got, released) {
		t.Errorf("HeldMessage = %+v, %v, %v; want %+v", got, ok, err, released)
	}
	rows, err := s.HeldOfIncident(ctx, held.IncidentID)
	if err != nil || len(rows) != 1 || rows[0].Status != HeldReleased {
		t.Errorf("HeldOfIncident = %+v, %v; want the released message alone", rows, err)
	}
	if _, ok, err := s.HeldMessage(ctx, "mx2", "E3F44D031A"); ok || err != nil {
		t.Errorf("HeldMessage on another host = %v, %v; want not found", ok, err)
	}
}
