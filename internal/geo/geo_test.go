package geo

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-ids/vigil/internal/testenv"
)

func fixture(t testing.TB) *DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.mmdb")
	if err := testenv.WriteTestDB(path, map[string]string{
		"81.2.64.0/18": "GB", "8.8.8.0/24": "US", "198.51.100.0/24": "DE", "2a00:1450::/32": "IE", "2001:db8::/32": "FR",
	}); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestCountry(t *testing.T) {
	db := fixture(t)
	for round := range 2 { // the second from the cache of decoded records
		for ip, want := range map[string]string{
			"81.2.69.142": "GB", "8.8.8.8": "US", "::ffff:8.8.8.8": "US", "198.51.100.7": "DE",
			"2a00:1450:4001::1": "IE", "2001:db8::25": "FR", "9.9.9.9": "", "10.0.0.1": "", "127.0.0.1": "", "::1": "",
		} {
			if got := db.Country(netip.MustParseAddr(ip)); got != want {
				t.Errorf("round %d: Country(%s) = %q; want %q", round, ip, got, want)
			}
		}
	}
	if got := db.Country(netip.Addr{}); got != "" {
		t.Errorf("Country(zero) = %q", got)
	}
}

// TestCountryMatchesGeoIP2 checks Country, cached by record, against geoip2's own reader for the first address of
// every network of the real country data (make test fetches it).
func TestCountryMatchesGeoIP2(t *testing.T) {
	path := "../../.cache/geoip/country.mmdb"
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("VIGIL_TEST_REQUIRE_DATA") != "" {
			t.Fatalf("no country data at %s: %v", path, err)
		}
		t.Skip("no country data; make geoip fetches it")
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	for p := range db.Networks() {
		ip := p.Addr()
		rec, err := db.r.Country(ip)
		if err != nil {
			t.Fatal(err)
		}
		want := rec.Country.ISOCode
		if len(want) != 2 {
			want = rec.RegisteredCountry.ISOCode
		}
		if len(want) != 2 || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() {
			want = ""
		}
		for round := range 2 {
			if got := db.Country(ip); got != want {
				t.Fatalf("round %d: Country(%s) = %q; geoip2 gives %q", round, ip, got, want)
			}
		}
		n++
	}
	if n < 1000 {
		t.Fatalf("only %d networks in %s", n, path)
	}
	t.Logf("%d networks, %d records cached", n, len(db.countries))
}

func TestNetworks(t *testing.T) {
	db := fixture(t)
	got := map[string]string{}
	for p, cc := range db.Networks() {
		got[p.String()] = cc
	}
	if got["81.2.64.0/18"] != "GB" || got["2a00:1450::/32"] != "IE" {
		t.Errorf("Networks() = %v; want the fixture's networks with IPv4 as IPv4 prefixes", got)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "missing.mmdb")); err == nil {
		t.Error("Open(missing) = nil error")
	}
	if _, err := Open(""); err == nil {
		t.Error("Open(\"\") = nil error")
	}
}

func BenchmarkCountry(b *testing.B) {
	db := fixture(b)
	ip := netip.MustParseAddr("81.2.69.142")
	b.ReportAllocs()
	for b.Loop() {
		db.Country(ip)
	}
}
