package rule

import (
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/window"
)

var (
	ipLondon = netip.MustParseAddr("81.2.69.142")
	ipSydney = netip.MustParseAddr("1.1.1.1")
	// On the grid of the window's stored coordinates (1/360° latitude, 1/180° longitude).
	london = window.Place{Lat: 51.5, Lon: -0.1, RadiusKm: 20, Country: "GB"}
	sydney = window.Place{Lat: -33.875, Lon: 151.2, RadiusKm: 20, Country: "AU"}
)

func cityOf(ip netip.Addr) string {
	return map[netip.Addr]string{ipLondon: "London", ipSydney: "Sydney"}[ip]
}

// located records a counted, placed login the way the engine does.
func located(w *window.User, t time.Time, ip netip.Addr, p window.Place, id uint32) {
	if w.AddLogin(t, ip, p.Country, id) {
		w.AddPlace(t, ip, p, true, cityOf)
	}
}

func TestImpossibleTravel(t *testing.T) {
	r := ImpossibleTravel{}
	for k, want := range map[event.Kind]Trigger{event.KindLogin: Open, event.KindSend: Evidence, "other": Ignore} {
		if got := r.On(k); got != want {
			t.Errorf("On(%q) = %d; want %d", k, got, want)
		}
	}
	if lv := r.Level(); lv.Default != 1000 || lv.Min != window.HopMinKmh {
		t.Errorf("Level() = %+v; want default 1000 km/h, min %d", lv, window.HopMinKmh)
	}
	var w window.User
	located(&w, t0, ipLondon, london, 1)
	if r.Fires(&w, 1000) {
		t.Error("Fires after one login = true")
	}
	located(&w, t0.Add(3*time.Hour), ipSydney, sydney, 2)
	w.AddSend(t0.Add(4*time.Hour), 3, 3)
	if !r.Fires(&w, 1000) {
		t.Fatalf("Fires(London → Sydney in 3 h, 1000 km/h) = false; hop %+v", w.Hop())
	}
	h := w.Hop()
	inc := r.Evidence(incident.Incident{}, &w)
	want := incident.Incident{
		FirstSeen: t0, Countries: []string{"AU", "GB"}, IPs: []string{"1.1.1.1", "81.2.69.142"}, Logins: 2, Messages24h: 1, Recipients24h: 3,
		Travel: &incident.Travel{
			From:       incident.TravelLogin{Time: t0, IP: "81.2.69.142", Country: "GB", City: "London", Lat: 51.5, Lon: -0.1, RadiusKm: 20},
			To:         incident.TravelLogin{Time: t0.Add(3 * time.Hour), IP: "1.1.1.1", Country: "AU", City: "Sydney", Lat: -33.875, Lon: 151.2, RadiusKm: 20},
			DistanceKm: h.DistanceKm, LeastKm: h.DistanceKm - 40, Seconds: 3 * 3600, SpeedKmh: (h.DistanceKm - 40) / 3,
		},
	}
	approx := cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-5 })
	if diff := cmp.Diff(want, inc, approx); diff != "" {
		t.Errorf("Evidence mismatch (-want +got):\n%s", diff)
	}
	if h.DistanceKm < 16900 || h.DistanceKm > 17100 {
		t.Errorf("London → Sydney = %d km; want about 16,990", h.DistanceKm)
	}
}

// TestImpossibleTravelBoundaries pins the firing edges: more than 500 km (least distance) and more than the
// threshold's km/h; a legitimate flight is never fast enough.
func TestImpossibleTravelBoundaries(t *testing.T) {
	kmPerDeg := 6371.0088 * math.Pi / 180
	east := func(km float64) window.Place { return window.Place{Lat: 0, Lon: km / kmPerDeg, Country: "XX"} }
	for _, tc := range []struct {
		name      string
		km        float64 // least distance (radius 0)
		dt        time.Duration
		threshold int
		fires     bool
	}{
		{"1,001 km/h", 1001.5, time.Hour, 1000, true},
		{"1,000 km/h", 1000.5, time.Hour, 1000, false},
		{"501 km in 1 min", 501.5, time.Minute, 1000, true},
		{"500 km in 1 min", 500.5, time.Minute, 1000, false},
		{"a flight: 9,000 km in 11 h", 9000, 11 * time.Hour, 1000, false},
		{"a flight against a strict domain (700 km/h)", 9000, 11 * time.Hour, 700, true},
		{"same second", 600, 0, 1000, true},
	} {
		var w window.User
		located(&w, t0, ipLondon, window.Place{Lat: 0, Lon: 1e-6, Country: "XX"}, 1)
		located(&w, t0.Add(tc.dt), ipSydney, east(tc.km), 2)
		if got := (ImpossibleTravel{}).Fires(&w, tc.threshold); got != tc.fires {
			t.Errorf("%s: Fires(threshold %d) = %v (hop %+v); want %v", tc.name, tc.threshold, got, w.Hop(), tc.fires)
		}
	}
}

// Wide accuracy radii shrink the distance: the same two cities with country-sized radii do not fire.
func TestImpossibleTravelImpreciseLocations(t *testing.T) {
	paris := window.Place{Lat: 48.8566, Lon: 2.3522, RadiusKm: 20, Country: "FR"}
	for _, tc := range []struct {
		name   string
		radius int
		fires  bool
	}{{"city-level (20 km)", 20, true}, {"country-level (500 km)", 500, false}} {
		var w window.User
		l, p := london, paris
		l.RadiusKm, p.RadiusKm = tc.radius, tc.radius
		// London → Paris is 344 km: move Paris 400 km further east so precise locations are about 740 km apart.
		p.Lon += 400 / (6371.0088 * math.Pi / 180 * math.Cos(p.Lat*math.Pi/180))
		located(&w, t0, ipLondon, l, 1)
		located(&w, t0.Add(10*time.Minute), ipSydney, p, 2)
		if got := (ImpossibleTravel{}).Fires(&w, 1000); got != tc.fires {
			t.Errorf("%s: Fires = %v (hop %+v); want %v", tc.name, got, w.Hop(), tc.fires)
		}
	}
}

func TestImpossibleTravelPerDomain(t *testing.T) {
	over, err := ParseDomains("strict.example:impossible_travel=700,lax.example:impossible_travel=off")
	if err != nil {
		t.Fatal(err)
	}
	c := Config{Global: Thresholds{incident.ImpossibleTravel: 1200}, Domains: over}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for domain, want := range map[string]int{"strict.example": 700, "lax.example": Off, "other.example": 1200} {
		if got := c.For(domain)[incident.ImpossibleTravel]; got != want {
			t.Errorf("For(%s)[impossible_travel] = %d; want %d", domain, got, want)
		}
	}
	if err := (&Config{Global: Thresholds{incident.ImpossibleTravel: 99}}).Validate(); err == nil {
		t.Error("Validate(impossible_travel=99 km/h) = nil; want an error below the minimum")
	}
	if Defaults[incident.ImpossibleTravel] != 1000 {
		t.Errorf("Defaults[impossible_travel] = %d; want 1000", Defaults[incident.ImpossibleTravel])
	}
}
