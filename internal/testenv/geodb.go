package testenv

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
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

// CityNet is a network of a test City database: where its addresses are, and how precisely.
type CityNet struct {
	Country  string
	City     string
	Lat, Lon float64
	RadiusKm int // accuracy radius; 0 writes none (as DB-IP Lite City)
}

// City database layouts WriteTestCityDB can write.
const (
	CityGeoIP2 = "GeoIP2-City" // MaxMind's schema: country.iso_code, city.names.en, location.{latitude,longitude,accuracy_radius}
	CityDBIP   = "city ipv4"   // ip-location-db's dbip-city-mmdb IPv4 file: flat country_code, city, latitude, longitude
	CityDBIP6  = "city ipv6"   // the same for its IPv6 file
)

// WriteTestCityDB writes a small City database at path in the given layout (CityGeoIP2, CityDBIP or CityDBIP6),
// mapping CIDR strings to locations, for tests.
func WriteTestCityDB(path, layout string, networks map[string]CityNet) error {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            layout,
		Description:             map[string]string{"en": "Vigil test City fixture"},
		Languages:               []string{"en"},
		RecordSize:              28,
		IPVersion:               map[bool]int{true: 4, false: 6}[layout == CityDBIP],
		IncludeReservedNetworks: true,
		DisableIPv4Aliasing:     layout != CityGeoIP2,
	})
	if err != nil {
		return err
	}
	for cidr, n := range networks {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			return err
		}
		p = p.Masked()
		ipnet := &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
		var rec mmdbtype.Map
		if layout == CityGeoIP2 {
			loc := mmdbtype.Map{"latitude": mmdbtype.Float64(n.Lat), "longitude": mmdbtype.Float64(n.Lon)}
			if n.RadiusKm > 0 {
				loc["accuracy_radius"] = mmdbtype.Uint16(n.RadiusKm)
			}
			rec = mmdbtype.Map{
				"country":  mmdbtype.Map{"iso_code": mmdbtype.String(n.Country)},
				"city":     mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(n.City)}},
				"location": loc,
			}
		} else {
			rec = mmdbtype.Map{
				"country_code": mmdbtype.String(n.Country), "city": mmdbtype.String(n.City), "state1": mmdbtype.String(""),
				"latitude": mmdbtype.Float32(n.Lat), "longitude": mmdbtype.Float32(n.Lon),
			}
		}
		if err := tree.Insert(ipnet, rec); err != nil {
			return fmt.Errorf("insert %s: %w", cidr, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := tree.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
