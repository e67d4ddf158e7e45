package gen

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/window"
)

// testCities places testNetworks: each country around a capital, its networks spread over a few hundred km (the
// US over a continent), one network in each country left unplaced, radii from 20 to 200 km.
func testCities(nets []Network) map[netip.Prefix]window.Place {
	capitals := map[string][2]float64{
		"DE": {52.52, 13.40}, "FR": {48.86, 2.35}, "GB": {51.51, -0.13}, "US": {39.0, -98.0}, "NL": {52.37, 4.90}, "ES": {40.42, -3.70},
		"IT": {41.90, 12.50}, "PL": {52.23, 21.01}, "BR": {-15.79, -47.88}, "NG": {9.08, 7.40}, "VN": {21.03, 105.85}, "RU": {55.76, 37.62},
	}
	out := map[netip.Prefix]window.Place{}
	idx := map[string]int{}
	for _, n := range nets {
		i := idx[n.Country]
		idx[n.Country]++
		if i == 3 {
			continue // unplaced
		}
		c := capitals[n.Country]
		spread := 1.5 // degrees
		if n.Country == "US" {
			spread = 12
		}
		out[n.Prefix] = window.Place{
			Lat: c[0] + spread*float64(i%3-1)/2, Lon: c[1] + spread*float64(i%5-2)/2,
			RadiusKm: []int{20, 50, 100, 200}[i%4], Country: n.Country, City: fmt.Sprintf("%s-%d", n.Country, i),
		}
	}
	return out
}

type cityTestGeo struct {
	prefixGeo
	at map[netip.Prefix]window.Place
}

func (g cityTestGeo) Locate(ip netip.Addr) (window.Place, bool) {
	for p, pl := range g.at {
		if p.Contains(ip) {
			return pl, true
		}
	}
	return window.Place{}, false
}

func (g cityTestGeo) CityName(ip netip.Addr) string { p, _ := g.Locate(ip); return p.City }

// TestTravelGroundTruthMatchesEngine: with City data the day gains impossible travellers and flyers, and the
// engine raises exactly the expected incidents, impossible_travel included.
func TestTravelGroundTruthMatchesEngine(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			nets := testNetworks()
			g := cityTestGeo{prefixGeo(nets), testCities(nets)}
			day, err := Generate(Options{Users: 1500, Seed: seed, End: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), Locate: g.Locate}, nets)
			if err != nil {
				t.Fatal(err)
			}
			matchGroundTruth(t, day, g, func(inc incident.Incident) {
				if inc.Rule == incident.ImpossibleTravel && (inc.Travel == nil || inc.Travel.SpeedKmh <= 1000 || inc.Travel.LeastKm <= 500) {
					t.Errorf("%s: impossible_travel evidence %+v; want a hop over 500 km above 1,000 km/h", inc.User, inc.Travel)
				}
			})
			count := map[Profile]int{}
			for u, p := range day.Profiles {
				count[p]++
				travel := slices.Contains(day.Expected[u], incident.ImpossibleTravel)
				switch {
				case p == ImpossibleTraveller && !travel:
					t.Errorf("%s (impossible traveller): expected %v; want impossible_travel", u, day.Expected[u])
				case (p == Flyer || p == Home || p == Mobile || p == Traveller) && travel:
					t.Errorf("%s (%s): expected impossible_travel; a legitimate user must not be", u, p)
				}
			}
			if count[ImpossibleTraveller] != 2 || count[Flyer] != 2 {
				t.Errorf("profiles = %v; want 2 impossible travellers and 2 flyers", count)
			}
		})
	}
}

// Without City data the day is what it was: no travel profiles, no impossible_travel truth.
func TestNoCityDataNoTravelScenarios(t *testing.T) {
	nets := testNetworks()
	o := Options{Users: 500, Seed: 7, End: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	day, err := Generate(o, nets)
	if err != nil {
		t.Fatal(err)
	}
	for u, p := range day.Profiles {
		if p == ImpossibleTraveller || p == Flyer || slices.Contains(day.Expected[u], incident.ImpossibleTravel) {
			t.Errorf("%s: profile %s, expected %v without City data", u, p, day.Expected[u])
		}
	}
}
