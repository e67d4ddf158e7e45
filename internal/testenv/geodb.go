package testenv

import (
	"net/netip"
	"os"
	"path/filepath"

	"github.com/vigil-ids/vigil/internal/geoimport"
)

// WriteTestDB writes a small GeoIP2-Country database at path mapping CIDR strings to country codes, for tests.
func WriteTestDB(path string, networks map[string]string) error {
	var ns []geoimport.Network
	for cidr, cc := range networks {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			return err
		}
		ns = append(ns, geoimport.Network{Prefix: p, Country: cc})
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := geoimport.WriteCountryDB(f, ns, "Vigil test fixture"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
