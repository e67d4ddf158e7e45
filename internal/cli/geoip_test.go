package cli

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/internal/geo"
)

// TestGeoIPImport converts a tor geoip file through vigil geoip import; a missing -out or an unknown -format is a
// usage error.
func TestGeoIPImport(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "geoip"), filepath.Join(dir, "country.mmdb")
	if err := os.WriteFile(in, []byte("134744064,134744319,US\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{
		{in},                                // no -out
		{"-out", out},                       // no INPUT
		{"-format", "csv", "-out", out, in}, // unknown format
	} {
		if _, _, err := vigil(context.Background(), nil, append([]string{"geoip", "import"}, bad...)...); ExitCode(err) != ExitUsage {
			t.Errorf("geoip import %q = %v; want a usage error", bad, err)
		}
	}
	stdout, _, err := vigil(context.Background(), nil, "geoip", "import", "-out", out, in)
	if err != nil || !strings.Contains(stdout, "wrote "+out) {
		t.Fatalf("geoip import = %q, %v", stdout, err)
	}
	db, err := geo.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := db.Country(netip.MustParseAddr("8.8.8.8")); got != "US" {
		t.Errorf("Country(8.8.8.8) = %q; want US", got)
	}
}
