package engine

import (
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/rule"
	"github.com/vigil-ids/vigil/internal/window"
)

// cities is countries plus a location per address, like a City database.
type cities struct {
	countries
	at map[netip.Addr]window.Place
}

func (c cities) Locate(ip netip.Addr) (window.Place, bool) { p, ok := c.at[ip]; return p, ok }
func (c cities) CityName(ip netip.Addr) string             { return c.at[ip].City }

var cityGeo = cities{countries: geo, at: map[netip.Addr]window.Place{
	gb:   {Lat: 51.5142, Lon: -0.0931, RadiusKm: 20, Country: "GB", City: "London"},
	au:   {Lat: -33.8688, Lon: 151.209, RadiusKm: 20, Country: "AU", City: "Sydney"},
	us:   {Lat: 37.422, Lon: -122.085, RadiusKm: 1000, Country: "US", City: "Mountain View"},
	home: {Lat: 37.422, Lon: -122.085, RadiusKm: 100, Country: "US"},
}}

func travelIncidents(incs []incident.Incident) []incident.Incident {
	var out []incident.Incident
	for _, inc := range incs {
		if inc.Rule == incident.ImpossibleTravel {
			out = append(out, inc)
		}
	}
	return out
}

func TestImpossibleTravel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := New(&rule.Config{Global: rule.Defaults}, cityGeo, func() Trust { return trustedAddrs{home: true} })
		var incs []incident.Incident
		_, incs = e.Process(login("alice@example.org", gb, true), incs)
		time.Sleep(30 * time.Minute)
		_, incs = e.Process(login("alice@example.org", home, true), incs) // trusted: not a hop end
		_, incs = e.Process(login("alice@example.org", au, false), incs)  // failed: not a hop end
		if got := travelIncidents(incs); len(got) != 0 {
			t.Fatalf("impossible_travel after London + trusted + failed logins = %+v; want none", got)
		}
		time.Sleep(90 * time.Minute)
		_, incs = e.Process(login("alice@example.org", au, true), incs)
		got := travelIncidents(incs)
		if len(got) != 1 {
			t.Fatalf("impossible_travel incidents after London then Sydney 2 h later = %d; want 1", len(got))
		}
		inc := got[0]
		tr := inc.Travel
		if tr == nil || tr.From.City != "London" || tr.To.City != "Sydney" || tr.From.IP != gb.String() || tr.To.IP != au.String() || tr.Seconds != 7200 || tr.SpeedKmh < 8000 {
			t.Fatalf("evidence = %+v; want London 81.2.69.142 → Sydney 1.1.1.1 in 7200 s above 8,000 km/h", tr)
		}
		if want := incident.ID(incident.ImpossibleTravel, "alice@example.org", inc.WindowStart); inc.ID != want || !inc.FirstSeen.Equal(tr.From.Time) {
			t.Errorf("incident id %s first seen %v; want %s, the London login's time", inc.ID, inc.FirstSeen, want)
		}
		// Staying in Sydney keeps the incident as it is; the next impossible hop updates the same row.
		time.Sleep(time.Hour)
		_, more := e.Process(login("alice@example.org", au, true), nil)
		if got := travelIncidents(more); len(got) != 0 {
			t.Errorf("a second Sydney login = %+v; want no update", got)
		}
		time.Sleep(time.Hour)
		_, more = e.Process(login("alice@example.org", gb, true), nil)
		got = travelIncidents(more)
		if len(got) != 1 || got[0].ID != inc.ID || got[0].Version <= inc.Version || got[0].Travel.To.City != "London" {
			t.Errorf("Sydney → London 1 h later = %+v; want the same incident, a higher version, the new hop", got)
		}
	})
}

// A Country-only database places no login: the rule never fires.
func TestImpossibleTravelNeedsCityData(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(&rule.Config{Global: rule.Defaults}, nil) // countries only
		var incs []incident.Incident
		_, incs = e.Process(login("bob@example.org", gb, true), incs)
		time.Sleep(time.Minute)
		_, incs = e.Process(login("bob@example.org", au, true), incs)
		if got := travelIncidents(incs); len(got) != 0 {
			t.Errorf("impossible_travel with a Country database = %+v; want none", got)
		}
	})
}

func TestImpossibleTravelOffPerDomain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := &rule.Config{Global: rule.Defaults, Domains: map[string]rule.Thresholds{"example.org": {incident.ImpossibleTravel: rule.Off}}}
		e := New(cfg, cityGeo, func() Trust { return nil })
		var incs []incident.Incident
		_, incs = e.Process(login("carol@example.org", gb, true), incs)
		time.Sleep(time.Minute)
		_, incs = e.Process(login("carol@example.org", au, true), incs)
		if got := travelIncidents(incs); len(got) != 0 {
			t.Errorf("impossible_travel switched off for example.org = %+v; want none", got)
		}
	})
}

// A replay gives the same impossible_travel incidents, evidence included; a redelivered login changes nothing.
func TestImpossibleTravelReplay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var evs []*event.Event
		evs = append(evs, login("erin@example.org", gb, true))
		time.Sleep(time.Hour)
		evs = append(evs, login("erin@example.org", au, true))
		evs = append(evs, evs[1]) // redelivered
		time.Sleep(time.Hour)
		evs = append(evs, login("erin@example.org", gb, true))
		run := func() []incident.Incident {
			e := New(&rule.Config{Global: rule.Defaults}, cityGeo, func() Trust { return nil })
			var incs []incident.Incident
			for _, ev := range evs {
				_, incs = e.Process(ev, incs)
			}
			return travelIncidents(incs)
		}
		first, second := run(), run()
		if len(first) != 2 || first[0].ID != first[1].ID || first[1].Version != first[0].Version+1 {
			t.Fatalf("incidents = %+v; want one incident updated once (the redelivery adds nothing)", first)
		}
		if diff := cmp.Diff(first, second); diff != "" {
			t.Errorf("replay differs (-first +second):\n%s", diff)
		}
	})
}
