package geoimport

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/vigil-ids/vigil/internal/geo"
)

func TestParseTorLine(t *testing.T) {
	ps, cc, err := ParseTorLine("16777216,16777471,AU")
	if err != nil || cc != "AU" || len(ps) != 1 || ps[0].String() != "1.0.0.0/24" {
		t.Errorf("ParseTorLine(IPv4) = %v, %q, %v; want 1.0.0.0/24 AU", ps, cc, err)
	}
	ps, cc, err = ParseTorLine("2001:4:112::,2001:4:112:ffff:ffff:ffff:ffff:ffff,US")
	if err != nil || cc != "US" || len(ps) != 1 || ps[0].String() != "2001:4:112::/48" {
		t.Errorf("ParseTorLine(IPv6) = %v, %q, %v", ps, cc, err)
	}
	ps, _, err = ParseTorLine("16777216,16777727,AU") // 1.0.0.0-1.0.1.255: one /23
	if err != nil || len(ps) != 1 || ps[0].String() != "1.0.0.0/23" {
		t.Errorf("ParseTorLine(/23) = %v, %v", ps, err)
	}
	for _, skip := range []string{"", "# comment", "2001::,2001:0:ffff:ffff:ffff:ffff:ffff:ffff,??"} {
		if ps, _, err := ParseTorLine(skip); err != nil || ps != nil {
			t.Errorf("ParseTorLine(%q) = %v, %v; want nothing", skip, ps, err)
		}
	}
	for _, bad := range []string{"1,2", "a,b,US", "5,4,US", "1,2,USA", "1,::1,US", "fe80::1%eth0,fe80::2,US", "99999999999,1,US", strings.Repeat("1", 300)} {
		if _, _, err := ParseTorLine(bad); err == nil {
			t.Errorf("ParseTorLine(%q) = nil error", bad)
		}
	}
}

func FuzzParseTorLine(f *testing.F) {
	f.Add("16777216,16777471,AU")
	f.Add("2001:4:112::,2001:4:112:ffff:ffff:ffff:ffff:ffff,US")
	f.Fuzz(func(t *testing.T, s string) {
		ps, cc, err := ParseTorLine(s)
		if err != nil {
			return
		}
		for _, p := range ps {
			if !p.IsValid() || p != p.Masked() || len(cc) != 2 {
				t.Fatalf("ParseTorLine(%q) = %v %q", s, ps, cc)
			}
		}
	})
}

func convert(t *testing.T, inputs ...string) *geo.DB {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.mmdb")
	var stdout, stderr bytes.Buffer
	if err := Import(context.Background(), Options{Out: out, Inputs: inputs}, &stdout, &stderr); err != nil {
		t.Fatalf("Import: %v\n%s", err, stderr.String())
	}
	db, err := geo.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestTorFiles(t *testing.T) {
	dir := t.TempDir()
	v4 := filepath.Join(dir, "geoip")
	v6 := filepath.Join(dir, "geoip6")
	os.WriteFile(v4, []byte("# test\n134744064,134744319,US\n1359101952,1359118335,GB\n"), 0o644)
	os.WriteFile(v6, []byte("2a00:1450::,2a00:1450:ffff:ffff:ffff:ffff:ffff:ffff,IE\n2002::,2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff,DE\n"), 0o644)
	db := convert(t, v4, v6)
	for ip, want := range map[string]string{"8.8.8.8": "US", "81.2.69.142": "GB", "2a00:1450:4001::1": "IE", "9.9.9.9": ""} {
		if got := db.Country(netip.MustParseAddr(ip)); got != want {
			t.Errorf("Country(%s) = %q; want %q", ip, got, want)
		}
	}
	if _, _, desc := db.Metadata(); !strings.Contains(desc, "CC BY-SA 4.0") {
		t.Errorf("description %q lacks the attribution", desc)
	}
	os.WriteFile(v4, []byte("134744064,134744319,US\nnot,a,line\n"), 0o644)
	err := Import(context.Background(), Options{Out: filepath.Join(dir, "x.mmdb"), Inputs: []string{v4}}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Errorf("malformed line: %v; want an error naming line 2", err)
	}
}

func TestWhoisMMDB(t *testing.T) {
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "country ipvAll", IncludeReservedNetworks: true, RecordSize: 24})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, cc := range map[string]string{"8.8.8.0/24": "US", "81.2.64.0/18": "GB", "2a00:1450::/32": "IE"} {
		p := netip.MustParsePrefix(cidr)
		if err := tree.Insert(prefixNet(p), mmdbtype.Map{"country_code": mmdbtype.String(cc)}); err != nil {
			t.Fatal(err)
		}
	}
	in := filepath.Join(t.TempDir(), "whois.mmdb")
	f, _ := os.Create(in)
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	db := convert(t, in)
	for ip, want := range map[string]string{"8.8.8.8": "US", "81.2.69.142": "GB", "2a00:1450:4001::1": "IE", "1.1.1.1": ""} {
		if got := db.Country(netip.MustParseAddr(ip)); got != want {
			t.Errorf("Country(%s) = %q; want %q", ip, got, want)
		}
	}
}

// TestRealTorData converts Debian's tor-geoipdb when present; make test installs it and requires it.
func TestRealTorData(t *testing.T) {
	if _, err := os.Stat("/usr/share/tor/geoip"); err != nil {
		if os.Getenv("VIGIL_TEST_REQUIRE_DATA") != "" {
			t.Fatalf("tor-geoipdb is missing but required: %v", err)
		}
		t.Skip("tor-geoipdb not installed")
	}
	db := convert(t, "/usr/share/tor/geoip", "/usr/share/tor/geoip6")
	for ip, want := range map[string]string{"8.8.8.8": "US", "81.2.69.142": "GB", "2001:4860:4860::8888": "US"} {
		if got := db.Country(netip.MustParseAddr(ip)); got != want {
			t.Errorf("Country(%s) = %q; want %q", ip, got, want)
		}
	}
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
