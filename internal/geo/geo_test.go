package geo

import (
	"net/netip"
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
	for ip, want := range map[string]string{
		"81.2.69.142": "GB", "8.8.8.8": "US", "::ffff:8.8.8.8": "US", "198.51.100.7": "DE",
		"2a00:1450:4001::1": "IE", "2001:db8::25": "FR", "9.9.9.9": "", "10.0.0.1": "", "127.0.0.1": "", "::1": "",
	} {
		if got := db.Country(netip.MustParseAddr(ip)); got != want {
			t.Errorf("Country(%s) = %q; want %q", ip, got, want)
		}
	}
	if got := db.Country(netip.Addr{}); got != "" {
		t.Errorf("Country(zero) = %q", got)
	}
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
