package chstore

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ids/vigil/internal/incident"
)

// An address-keyed incident keeps its evidence in detail and reads back whole; a per-country one is unchanged.
func TestAddrIncidentDetailRoundTrips(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	spray := incident.Incident{ID: "a1", Rule: "password_spray", Status: incident.StatusOpen, WindowStart: now, FirstSeen: now.Add(-time.Minute), LastSeen: now,
		Countries: []string{}, IPs: []string{"203.0.113.0/24", "203.0.113.9", "203.0.113.10"}, Version: 3,
		Addr: &incident.Addr{Key: "203.0.113.0/24", Failures: 40, Attempts: 40, Hashes: 40, Targets: 25, Users: []string{"a@example.org", "b@example.org"},
			Victims: []string{"b@example.org"}, Successes: 1, Addresses: 2, Services: []string{"imap"}}}
	mc := incident.Incident{ID: "m1", Rule: incident.MultiCountry, User: "alice@example.org", Status: incident.StatusOpen, WindowStart: now, FirstSeen: now, LastSeen: now,
		Countries: []string{"GB"}, IPs: []string{"81.2.69.142"}, Detail: []incident.Country{{Country: "GB", IPs: []string{"81.2.69.142"}, FirstSeen: now, LastSeen: now, Logins: 1}}, Version: 1}
	if err := s.Write(ctx, nil, nil, []incident.Incident{spray, mc}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Incidents(ctx, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]incident.Incident{}
	for _, i := range got {
		byID[i.ID] = i
	}
	if diff := cmp.Diff(spray.Addr, byID["a1"].Addr); diff != "" || byID["a1"].User != "" || byID["a1"].IPs[0] != "203.0.113.0/24" {
		t.Errorf("address incident read back: user %q ips %v, evidence mismatch (-want +got):\n%s", byID["a1"].User, byID["a1"].IPs, diff)
	}
	if byID["m1"].Addr != nil || len(byID["m1"].Detail) != 1 || byID["m1"].Detail[0].Country != "GB" {
		t.Errorf("multi_country incident read back = %+v; want its country detail and no address evidence", byID["m1"])
	}
}
