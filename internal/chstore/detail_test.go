package chstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ids/vigil/internal/incident"
)

// An impossible_travel incident keeps its two logins, distance and speed in the detail column, readable as JSON
// there and round-tripped by Incidents.
func TestTravelIncidentRoundTrips(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	inc := incident.Incident{ID: "t1", Rule: incident.ImpossibleTravel, User: "alice@example.org", Domain: "example.org", Status: incident.StatusOpen,
		WindowStart: now, FirstSeen: now.Add(-2 * time.Hour), LastSeen: now, Countries: []string{"AU", "GB"}, IPs: []string{"1.1.1.1", "81.2.69.142"},
		Logins: 2, Version: 1,
		Travel: &incident.Travel{
			From:       incident.TravelLogin{Time: now.Add(-2 * time.Hour), IP: "81.2.69.142", Country: "GB", City: "London", Lat: 51.5142, Lon: -0.0931, RadiusKm: 20},
			To:         incident.TravelLogin{Time: now, IP: "1.1.1.1", Country: "AU", City: "Sydney", Lat: -33.8688, Lon: 151.209, RadiusKm: 100},
			DistanceKm: 16990, LeastKm: 16870, Seconds: 7200, SpeedKmh: 8435,
		}}
	if err := s.Write(ctx, nil, nil, []incident.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Incidents(ctx, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]incident.Incident{inc}, got); diff != "" {
		t.Errorf("Incidents mismatch (-want +got):\n%s", diff)
	}
	var detail string
	if err := s.conn.QueryRow(ctx, "SELECT detail FROM "+s.opts.Database+".incidents FINAL WHERE incident_id = 't1'").Scan(&detail); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"from":{`, `"city":"London"`, `"speed_kmh":8435`, `"least_distance_km":16870`, `"radius_km":100`} {
		if !strings.Contains(detail, want) {
			t.Errorf("detail column %s; want it to contain %s", detail, want)
		}
	}
}

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
