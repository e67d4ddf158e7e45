package chstore

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func consoleIncident(id, user, domain string, rule incident.Rule, last time.Time, version uint64) incident.Incident {
	return incident.Incident{ID: id, Rule: rule, User: user, Domain: domain, Status: incident.StatusOpen, WindowStart: last.Add(-time.Hour),
		FirstSeen: last.Add(-time.Hour), LastSeen: last, Countries: []string{"DE", "FR"}, IPs: []string{"192.0.2.1"}, Version: version,
		Detail: []incident.Country{{Country: "DE", IPs: []string{"192.0.2.1"}, Logins: int(version)}}}
}

func ids(rows []IncidentRow) []string {
	out := []string{}
	for _, r := range rows {
		out = append(out, r.ID)
	}
	return out
}

// The console's incident list: newest first, paged, filtered on the shown status (a review's, else the
// incident's), rule, domain, user substring, time and a domain limit; a newer evidence version never undoes a review.
func TestConsoleIncidents(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	incs := []incident.Incident{
		consoleIncident("a1", "alice@example.org", "example.org", incident.MultiCountry, t0, 1),
		consoleIncident("b2", "bob@example.org", "example.org", incident.SendVolume, t0.Add(time.Hour), 1),
		consoleIncident("c3", "carol@other.net", "other.net", incident.MultiCountry, t0.Add(2*time.Hour), 1),
	}
	if err := s.Write(ctx, nil, nil, incs); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteReviews(ctx, []ReviewRow{{IncidentID: "a1", Status: "acknowledged", Actor: "root", Time: t0, Revision: 3},
		{IncidentID: "a1", Status: "resolved", Reason: "user_travelling", Actor: "root", Time: t0, Revision: 5}}); err != nil {
		t.Fatal(err)
	}
	// A new evidence version of a1 arrives after the review.
	if err := s.Write(ctx, nil, nil, []incident.Incident{consoleIncident("a1", "alice@example.org", "example.org", incident.MultiCountry, t0.Add(30*time.Minute), 2)}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		f     IncidentFilter
		want  []string
		total uint64
	}{
		{"all newest first", IncidentFilter{}, []string{"c3", "b2", "a1"}, 3},
		{"page", IncidentFilter{Limit: 1, Offset: 1}, []string{"b2"}, 3},
		{"open", IncidentFilter{Status: "open"}, []string{"c3", "b2"}, 2},
		{"resolved by review", IncidentFilter{Status: "resolved"}, []string{"a1"}, 1},
		{"rule", IncidentFilter{Rule: "multi_country"}, []string{"c3", "a1"}, 2},
		{"domain", IncidentFilter{Domain: "other.net"}, []string{"c3"}, 1},
		{"user substring", IncidentFilter{User: "bob"}, []string{"b2"}, 1},
		{"domain limit", IncidentFilter{Domains: []string{"example.org"}}, []string{"b2", "a1"}, 2},
		{"empty domain limit", IncidentFilter{Domains: []string{}}, []string{}, 0},
		{"from", IncidentFilter{From: t0.Add(45 * time.Minute)}, []string{"c3", "b2"}, 2},
		{"to", IncidentFilter{To: t0.Add(-10 * time.Minute)}, []string{"a1"}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rows, total, err := s.ListIncidents(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, ids(rows)); diff != "" || total != tt.total {
				t.Errorf("ListIncidents(%+v) ids (-want +got):\n%s total %d; want %d", tt.f, diff, total, tt.total)
			}
		})
	}
	r, ok, err := s.GetIncident(ctx, "a1", nil)
	if err != nil || !ok {
		t.Fatalf("GetIncident(a1) = %v, %v", ok, err)
	}
	if r.Version != 2 || r.Status != "resolved" || r.DetectorState != "open" || string(r.Detail) == "" {
		t.Errorf("GetIncident(a1) = version %d status %q detector %q evidence %s; want version 2, resolved, open, evidence", r.Version, r.Status, r.DetectorState, r.Detail)
	}
	if _, ok, err := s.GetIncident(ctx, "a1", []string{"other.net"}); ok || err != nil {
		t.Errorf("GetIncident(a1) outside the domain limit = %v, %v; want not found", ok, err)
	}
	sum, err := s.SummarizeIncidents(ctx, IncidentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := IncidentSummary{Total: 3, Unreviewed: 2, ByStatus: map[string]uint64{"open": 2, "resolved": 1}, ByRule: map[string]uint64{"multi_country": 2, "send_volume": 1}}
	if diff := cmp.Diff(want, sum); diff != "" {
		t.Errorf("SummarizeIncidents (-want +got):\n%s", diff)
	}
}

func TestConsoleUserLogins(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	var logins []event.Enriched
	for i := range 5 {
		logins = append(logins, event.Enriched{Event: event.Event{ID: string(rune('a' + i)), Kind: event.KindLogin, Time: t0.Add(time.Duration(i) * time.Minute),
			User: "alice@example.org", Domain: "example.org", IP: netip.MustParseAddr("192.0.2.1"), Service: "imap", Success: i%2 == 0, Source: "mx1"}, Country: "DE", Trusted: i == 4})
	}
	logins = append(logins, event.Enriched{Event: event.Event{ID: "z", Kind: event.KindLogin, Time: t0, User: "bob@example.org", Domain: "example.org", IP: netip.MustParseAddr("192.0.2.2"), Service: "pop3"}})
	if err := s.Write(ctx, logins, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, logins[3:], nil, nil); err != nil { // redelivered: one row each all the same
		t.Fatal(err)
	}
	rows, err := s.UserLogins(ctx, LoginFilter{User: "alice@example.org", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := []LoginRow{
		{ID: "e", Time: t0.Add(4 * time.Minute), User: "alice@example.org", Domain: "example.org", IP: "192.0.2.1", Country: "DE", Service: "imap", Success: true, Trusted: true, Source: "mx1"},
		{ID: "d", Time: t0.Add(3 * time.Minute), User: "alice@example.org", Domain: "example.org", IP: "192.0.2.1", Country: "DE", Service: "imap", Source: "mx1"},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("UserLogins (-want +got):\n%s", diff)
	}
	rows, err = s.UserLogins(ctx, LoginFilter{User: "alice@example.org", From: t0.Add(time.Minute), To: t0.Add(3 * time.Minute)})
	if err != nil || len(rows) != 2 {
		t.Errorf("UserLogins in [t0+1m, t0+3m) = %d rows, %v; want 2", len(rows), err)
	}
	if rows, err := s.UserLogins(ctx, LoginFilter{User: "alice@example.org", Domains: []string{"other.net"}}); err != nil || len(rows) != 0 {
		t.Errorf("UserLogins outside the domain limit = %d rows, %v; want none", len(rows), err)
	}
}

func TestConsoleAuditLog(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	if err := s.WriteAudit(ctx, []AuditRow{
		{EventID: "1", Time: t0, Action: "login_success", Actor: "root", ClientIP: "203.0.113.9", Target: "root", Result: "success"},
		{EventID: "2", Time: t0.Add(time.Minute), Action: "incident_review", Actor: "ann", ClientIP: "203.0.113.9", Target: "a1", Result: "success"},
		{EventID: "2", Time: t0.Add(time.Minute), Action: "incident_review", Actor: "ann", ClientIP: "203.0.113.9", Target: "a1", Result: "success"},
	}); err != nil {
		t.Fatal(err)
	}
	rows, total, err := s.AuditLog(ctx, AuditFilter{})
	if err != nil || total != 2 || len(rows) != 2 || rows[0].EventID != "2" {
		t.Fatalf("AuditLog() = %+v, %d, %v; want 2 rows, newest first", rows, total, err)
	}
	rows, total, err = s.AuditLog(ctx, AuditFilter{Actor: "root", From: t0, To: t0.Add(time.Second)})
	if err != nil || total != 1 || rows[0].Action != "login_success" {
		t.Errorf("AuditLog(actor root) = %+v, %d, %v; want the login", rows, total, err)
	}
}
