package window

import (
	"math"
	"net/netip"
	"testing"
	"time"
	"unsafe"
)

var (
	// On the grid of the stored coordinates (1/360° latitude, 1/180° longitude), so they are kept exactly.
	london = Place{Lat: 51.5, Lon: -0.1, RadiusKm: 20, Country: "GB"}
	sydney = Place{Lat: -33.875, Lon: 151.2, RadiusKm: 20, Country: "AU"}
	paris  = Place{Lat: 48.85, Lon: 2.35, RadiusKm: 20, Country: "FR"}
	ipAU   = netip.MustParseAddr("1.1.1.1")
	ipFR   = netip.MustParseAddr("198.51.100.7")
	t0     = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
)

var travelIDs uint32 = 1 << 30 // event id hashes of these tests, apart from the other tests'

// placed records a login the way the engine does: counted by AddLogin, then placed.
func placed(u *User, t time.Time, ip netip.Addr, p Place, name func(netip.Addr) string) {
	cc := p.Country
	if cc == "" {
		cc = "ZZ"
	}
	travelIDs++
	if u.AddLogin(t, ip, cc, travelIDs) {
		u.AddPlace(t, ip, p, p.Country != "", name)
	}
}

func names(ip netip.Addr) string {
	return map[netip.Addr]string{ipGB: "London", ipAU: "Sydney", ipFR: "Paris"}[ip]
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b Place
		want float64 // km, from published great-circle distances
	}{
		{london, paris, 344},
		{london, sydney, 16990},
		{london, london, 0},
		{Place{Lat: 0, Lon: 179.5}, Place{Lat: 0, Lon: -179.5}, 111}, // across the antimeridian
	} {
		if got := Distance(tc.a.Lat, tc.a.Lon, tc.b.Lat, tc.b.Lon); math.Abs(got-tc.want) > tc.want*0.01+1 {
			t.Errorf("Distance(%v,%v → %v,%v) = %.0f km; want %.0f ±1%%", tc.a.Lat, tc.a.Lon, tc.b.Lat, tc.b.Lon, got, tc.want)
		}
	}
}

func TestHopLondonSydney(t *testing.T) {
	var u User
	placed(&u, t0, ipGB, london, names)
	if u.Hop() != nil {
		t.Fatal("Hop() after the first located login != nil")
	}
	placed(&u, t0.Add(2*time.Hour), ipAU, sydney, names)
	h := u.Hop()
	if h == nil {
		t.Fatal("Hop() after London then Sydney 2h later = nil")
	}
	if h.From.IP != ipGB || h.To.IP != ipAU || h.From.City != "London" || h.To.City != "Sydney" || h.From.Country != "GB" || h.To.Country != "AU" {
		t.Errorf("Hop ends = %+v → %+v; want London 81.2.69.142 GB → Sydney 1.1.1.1 AU", h.From, h.To)
	}
	if h.Seconds != 7200 || h.LeastKm != h.DistanceKm-40 || h.SpeedKmh != h.LeastKm/2 {
		t.Errorf("Hop = %d km (least %d) in %d s at %d km/h; want least = distance - 40 km, 7200 s, least/2 km/h", h.DistanceKm, h.LeastKm, h.Seconds, h.SpeedKmh)
	}
	if !h.From.Time.Equal(t0) || h.To.Lat != sydney.Lat || h.To.Lon != sydney.Lon || h.To.RadiusKm != 20 {
		t.Errorf("Hop.To = %+v; want Sydney's coordinates ±20 km", h.To)
	}
	// The next login, at Sydney, ends a hop of no distance: the kept hop is gone.
	placed(&u, t0.Add(3*time.Hour), ipAU, sydney, names)
	if u.Hop() != nil {
		t.Errorf("Hop() after a second Sydney login = %+v; want nil", u.Hop())
	}
}

// The radii come off the distance: two imprecise locations never look like a flight.
func TestHopRespectsRadius(t *testing.T) {
	wide := func(p Place, r int) Place { p.RadiusKm = r; return p }
	d := int(Distance(london.Lat, london.Lon, sydney.Lat, sydney.Lon))
	for _, tc := range []struct {
		name string
		a, b Place
		kept bool
	}{
		{"precise", wide(london, 1), wide(sydney, 1), true},
		{"radii cover the distance", wide(london, 9000), wide(sydney, 9000), false},
		{"radii leave 500 km", wide(london, 8000), wide(sydney, d-8000-500), false},
		{"radii leave 501 km", wide(london, 8000), wide(sydney, d-8000-501), true},
	} {
		var u User
		placed(&u, t0, ipGB, tc.a, nil)
		placed(&u, t0.Add(time.Minute), ipAU, tc.b, nil)
		if got := u.Hop() != nil; got != tc.kept {
			t.Errorf("%s: hop kept = %v (%+v); want %v", tc.name, got, u.Hop(), tc.kept)
		}
	}
}

// The boundaries of a kept hop: least distance more than HopMinKm, speed more than HopMinKmh, the previous login
// within 24 hours.
func TestHopBoundaries(t *testing.T) {
	// Points on the equator: 1° of longitude is 111.195 km.
	at := func(km float64) Place {
		return Place{Lat: 0, Lon: km / (earthRadiusKm * math.Pi / 180), Country: "XX"}
	}
	origin := Place{Lat: 0, Lon: 0.000001, Country: "XX"}
	for _, tc := range []struct {
		name string
		km   float64
		dt   time.Duration
		kept bool
	}{
		{"501 km in 1h", 501.5, time.Hour, true},
		{"500 km in 1h", 500.5, time.Hour, false},
		{"speed just over HopMinKmh", 606, 6 * time.Hour, true},
		{"speed at HopMinKmh", 600, 6 * time.Hour, false},
		{"same second", 600, 0, true},
		{"previous login 24h before", 20000, 24 * time.Hour, false},
		{"previous login 24h-1s before", 20000, 24*time.Hour - time.Second, true},
	} {
		var u User
		placed(&u, t0, ipGB, origin, nil)
		placed(&u, t0.Add(tc.dt), ipAU, at(tc.km), nil)
		if got := u.Hop() != nil; got != tc.kept {
			t.Errorf("%s: hop kept = %v (%+v); want %v", tc.name, got, u.Hop(), tc.kept)
		}
	}
}

func TestHopOutOfOrder(t *testing.T) {
	var u User
	placed(&u, t0.Add(time.Hour), ipAU, sydney, nil)
	placed(&u, t0, ipGB, london, nil) // older, delivered late
	h := u.Hop()
	if h == nil || h.From.IP != ipGB || h.To.IP != ipAU || h.Seconds != 3600 {
		t.Fatalf("Hop() after a late older login = %+v; want London → Sydney over 3600 s", h)
	}
	// The newest located login is still Sydney: Paris an hour after Sydney is a hop from Sydney.
	placed(&u, t0.Add(2*time.Hour), ipFR, paris, nil)
	if h := u.Hop(); h == nil || h.From.IP != ipAU {
		t.Errorf("Hop() after Paris = %+v; want from Sydney", h)
	}
}

// An unplaced login clears the hop but keeps the trail: the next located login is compared with the last located
// one.
func TestHopUnlocatedLogin(t *testing.T) {
	var u User
	placed(&u, t0, ipGB, london, nil)
	placed(&u, t0.Add(time.Hour), ipAU, sydney, nil)
	placed(&u, t0.Add(2*time.Hour), ipFR, Place{}, nil)
	if u.Hop() != nil {
		t.Fatalf("Hop() after an unplaced login = %+v; want nil", u.Hop())
	}
	placed(&u, t0.Add(3*time.Hour), ipFR, paris, nil)
	if h := u.Hop(); h == nil || h.From.IP != ipAU || h.To.IP != ipFR {
		t.Errorf("Hop() = %+v; want Sydney → Paris", h)
	}
}

// TestTravelStateSize pins the per-user cost of impossible_travel reported in the README.
func TestTravelStateSize(t *testing.T) {
	if got := unsafe.Sizeof(travel{}); got != 24 {
		t.Errorf("sizeof(travel) = %d; want 24 (16 bytes of newest login + the hop pointer)", got)
	}
}

func BenchmarkAddPlace(b *testing.B) {
	var u User
	ts := t0
	b.ReportAllocs()
	for b.Loop() {
		ts = ts.Add(time.Minute)
		u.AddPlace(ts, ipGB, london, true, nil)
	}
}

// The window files an address under the Country database's country; the City data may place it in another. The
// hop still names the address.
func TestHopAddressAcrossDatabases(t *testing.T) {
	var u User
	travelIDs++
	u.AddLogin(t0, ipGB, "NL", travelIDs) // the Country database says NL, the City data London
	u.AddPlace(t0, ipGB, london, true, nil)
	placed(&u, t0.Add(time.Hour), ipAU, sydney, nil)
	if h := u.Hop(); h == nil || h.From.IP != ipGB || h.From.Country != "GB" {
		t.Errorf("Hop() = %+v; want from 81.2.69.142 placed in GB", h)
	}
}

// PlaceLogin looks an address up only when it differs from the newest located login's, and gives the same hops.
func TestPlaceLoginSkipsRepeatedAddress(t *testing.T) {
	lookups := 0
	locate := func(ip netip.Addr) (Place, bool) {
		lookups++
		return map[netip.Addr]Place{ipGB: london, ipAU: sydney}[ip], ip == ipGB || ip == ipAU
	}
	var u User
	login := func(at time.Time, ip netip.Addr, cc string) {
		travelIDs++
		if u.AddLogin(at, ip, cc, travelIDs) {
			u.PlaceLogin(at, ip, locate, names)
		}
	}
	login(t0, ipGB, "GB")
	login(t0.Add(time.Minute), ipGB, "GB")
	login(t0.Add(2*time.Minute), ipGB, "GB")
	if lookups != 1 || u.Hop() != nil {
		t.Fatalf("three logins from one address: %d lookups, hop %+v; want 1 lookup, no hop", lookups, u.Hop())
	}
	login(t0.Add(time.Hour), ipAU, "AU")
	h := u.Hop()
	if lookups != 2 || h == nil || h.From.IP != ipGB || !h.From.Time.Equal(t0.Add(2*time.Minute)) || h.Seconds != 3480 {
		t.Fatalf("then Sydney: %d lookups, hop %+v; want 2 lookups, a hop from the last London login (58 min)", lookups, h)
	}
	login(t0.Add(61*time.Minute), ipAU, "AU")
	if u.Hop() != nil {
		t.Errorf("a second Sydney login kept hop %+v; want none", u.Hop())
	}
	// A day later the address is looked up again: the newest located login has left the window.
	login(t0.Add(26*time.Hour), ipAU, "AU")
	if lookups != 3 {
		t.Errorf("lookups after a day = %d; want 3", lookups)
	}
}
