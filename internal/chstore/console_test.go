package chstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
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

// The incident list over incident_list answers as the previous one over incidents FINAL did (console_previous_test.go),
// on random incidents with several versions, reviews, rules, domains and 200 days of last_seen (past every range
// ListIncidents widens through), for filters, pages and the summary; also once some incident has versions of two
// detector statuses, which the counts by rule cannot place.
func TestConsoleIncidentsMatchPrevious(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 2))
	var incs []incident.Incident
	var reviews []ReviewRow
	rules := []incident.Rule{incident.MultiCountry, incident.SendVolume, "brute_force"}
	statuses := []string{"open", "acknowledged", "resolved"}
	for i := range 300 {
		last := t0.Add(-time.Duration(rng.Int64N(int64(200 * 24 * time.Hour)))).Truncate(time.Second)
		user := fmt.Sprintf("u%d@d%d.example", i, i%4)
		id := fmt.Sprintf("%032x", i)
		rule := rules[rng.IntN(len(rules))]
		for v := range uint64(1 + rng.IntN(3)) {
			inc := consoleIncident(id, user, fmt.Sprintf("d%d.example", i%4), rule, last.Add(time.Duration(v)*time.Hour), v+1)
			inc.FirstSeen = last.Add(-time.Duration(rng.IntN(48)) * time.Hour)
			incs = append(incs, inc)
		}
		for r := range uint64(rng.IntN(3)) {
			reviews = append(reviews, ReviewRow{IncidentID: id, Status: statuses[rng.IntN(3)], Actor: "root", Time: last, Revision: r + 1})
		}
	}
	rng.Shuffle(len(incs), func(i, j int) { incs[i], incs[j] = incs[j], incs[i] })
	for i := 0; i < len(incs); i += 100 { // several inserts, several parts
		if err := s.Write(ctx, nil, nil, incs[i:min(i+100, len(incs))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WriteReviews(ctx, reviews); err != nil {
		t.Fatal(err)
	}
	filters := []IncidentFilter{
		{Limit: 50}, {Limit: 50, Offset: 50}, {Limit: 40, Offset: 280}, {Limit: 7, Offset: 3}, {Limit: 50, Offset: 1000},
		{Status: "open", Limit: 25}, {Status: "resolved", Limit: 25, Offset: 25}, {Status: "acknowledged"},
		{Rule: "send_volume"}, {Domain: "d1.example", Offset: 10}, {User: "u1"}, {User: "u2", Status: "open"},
		{Domains: []string{"d0.example", "d3.example"}, Limit: 30, Offset: 30}, {Domains: []string{}},
		{From: t0.Add(-90 * 24 * time.Hour)}, {To: t0.Add(-100 * 24 * time.Hour), Limit: 20},
		{From: t0.Add(-150 * 24 * time.Hour), To: t0.Add(-20 * 24 * time.Hour), Status: "open", Rule: "multi_country"},
	}
	check := func(when string) {
		t.Helper()
		for _, f := range filters {
			rows, total, err := s.ListIncidents(ctx, f)
			if err != nil {
				t.Fatalf("ListIncidents(%+v): %v", f, err)
			}
			prows, ptotal, err := s.previousListIncidents(ctx, f)
			if err != nil {
				t.Fatalf("previousListIncidents(%+v): %v", f, err)
			}
			if diff := cmp.Diff(prows, rows); diff != "" || total != ptotal {
				t.Errorf("%s: ListIncidents(%+v) total %d, previous %d; rows (-previous +now):\n%s", when, f, total, ptotal, diff)
			}
			sum, err := s.SummarizeIncidents(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			psum, err := s.previousSummarizeIncidents(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(psum, sum); diff != "" {
				t.Errorf("%s: SummarizeIncidents(%+v) (-previous +now):\n%s", when, f, diff)
			}
		}
	}
	check("one detector status")
	// The detector's status changes on a newer version of one incident (as an admin writing to ClickHouse would).
	changed := incs[0]
	changed.Version, changed.Status, changed.LastSeen = 10, "resolved", changed.LastSeen.Add(2*time.Hour)
	if err := s.Write(ctx, nil, nil, []incident.Incident{changed}); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := s.summarizeByRule(ctx, IncidentFilter{}); ok || err != nil {
		t.Errorf("summarizeByRule with two detector statuses = ok %v, %v; want not ok", ok, err)
	}
	check("two detector statuses")
}

// Migration 0011 fills incident_list from the incidents stored before it.
func TestIncidentListFilledFromStoredIncidents(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	incs := []incident.Incident{
		consoleIncident("a1", "alice@example.org", "example.org", incident.MultiCountry, t0, 1),
		consoleIncident("a1", "alice@example.org", "example.org", incident.MultiCountry, t0.Add(time.Hour), 2),
		consoleIncident("b2", "bob@example.org", "example.org", incident.SendVolume, t0.Add(-time.Hour), 1),
	}
	if err := s.Write(ctx, nil, nil, incs); err != nil {
		t.Fatal(err)
	}
	db := s.Database()
	for _, st := range []string{"DROP TABLE " + db + ".incident_list_feed", "TRUNCATE TABLE " + db + ".incident_list"} {
		if err := s.Conn().Exec(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	if rows, total, err := s.ListIncidents(ctx, IncidentFilter{}); err != nil || total != 0 || len(rows) != 0 {
		t.Fatalf("ListIncidents with incident_list emptied = %d rows, total %d, %v; want none", len(rows), total, err)
	}
	migrations, err := Migrations("", db)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations {
		if m.Version != 11 {
			continue
		}
		for _, st := range m.Statements {
			if err := s.Conn().Exec(ctx, st); err != nil {
				t.Fatalf("migration %s: %v\n%s", m.Name, err, st)
			}
		}
	}
	rows, total, err := s.ListIncidents(ctx, IncidentFilter{})
	if err != nil || total != 2 || cmp.Diff([]string{"a1", "b2"}, ids(rows)) != "" || rows[0].Version != 2 {
		t.Errorf("ListIncidents after the fill = %v (version %v), total %d, %v; want a1 (version 2), b2", ids(rows), rows, total, err)
	}
	// The view feeds it again from here on.
	if err := s.Write(ctx, nil, nil, []incident.Incident{consoleIncident("c3", "carol@example.org", "example.org", incident.MultiCountry, t0.Add(2*time.Hour), 1)}); err != nil {
		t.Fatal(err)
	}
	if rows, total, err := s.ListIncidents(ctx, IncidentFilter{Limit: 1}); err != nil || total != 3 || cmp.Diff([]string{"c3"}, ids(rows)) != "" {
		t.Errorf("ListIncidents after a new incident = %v, total %d, %v; want c3 first of 3", ids(rows), total, err)
	}
}

func TestPageSpans(t *testing.T) {
	day := 24 * time.Hour
	month := lastSeen{oldest: t0.Add(-30 * day), newest: t0}
	for _, tt := range []struct {
		need, total uint64
		r           lastSeen
		want        []time.Duration
	}{
		{50, 100_000, month, []time.Duration{time.Hour, 8 * time.Hour, 64 * time.Hour, 512 * time.Hour}}, // at least an hour
		{300, 3000, month, []time.Duration{6 * day}},                                                     // twice the even share, then 8x (past the whole)
		{60, 60, month, nil},                             // the page is everything
		{50, 100, lastSeen{oldest: t0, newest: t0}, nil}, // one instant
	} {
		if got := pageSpans(tt.need, tt.total, tt.r); !slices.Equal(got, tt.want) {
			t.Errorf("pageSpans(%d, %d, %v) = %v; want %v", tt.need, tt.total, tt.r.newest.Sub(tt.r.oldest), got, tt.want)
		}
	}
}
