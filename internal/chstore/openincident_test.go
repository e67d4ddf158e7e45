package chstore

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/incident"
)

// A user's open incident counts for step-up until an admin's newest review resolves it; reopening counts again.
func TestOpenIncidentFollowsReviews(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	inc := incident.Incident{ID: "o1", Rule: incident.MultiCountry, User: "carol@example.org", Domain: "example.org", Status: incident.StatusOpen,
		WindowStart: now, FirstSeen: now, LastSeen: now, Countries: []string{"GB"}, IPs: []string{"81.2.69.142"}, Version: 1}
	if err := s.Write(ctx, nil, nil, []incident.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	want := func(step string, id string) {
		t.Helper()
		got, err := s.OpenIncident(ctx, "carol@example.org")
		if err != nil || got != id {
			t.Errorf("%s: OpenIncident = %q, %v; want %q", step, got, err, id)
		}
	}
	want("open", "o1")
	review := func(status string, rev uint64) {
		t.Helper()
		if err := s.WriteReviews(ctx, []ReviewRow{{IncidentID: "o1", Status: status, Actor: "admin", Time: now, Revision: rev}}); err != nil {
			t.Fatal(err)
		}
	}
	review("acknowledged", 1)
	want("acknowledged", "o1")
	review("resolved", 2)
	want("resolved", "")
	review("open", 3)
	want("reopened", "o1")
}
