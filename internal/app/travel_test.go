package app

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// TestTravelStartupNotice: with only a Country database impossible_travel is off and start-up says how to switch
// it on; with City data (a separate file, or a City file as VIGIL_GEOIP_DB) the engine gets a Locator and
// start-up names the data.
func TestTravelStartupNotice(t *testing.T) {
	dir := t.TempDir()
	country := filepath.Join(dir, "country.mmdb")
	city := filepath.Join(dir, "city.mmdb")
	if err := testenv.WriteTestDB(country, map[string]string{"81.2.64.0/18": "GB"}); err != nil {
		t.Fatal(err)
	}
	if err := testenv.WriteTestCityDB(city, testenv.CityGeoIP2, map[string]testenv.CityNet{
		"81.2.64.0/18": {Country: "GB", City: "London", Lat: 51.5142, Lon: -0.0931, RadiusKm: 20},
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		db      string
		cityDB  []string
		want    string
		located bool
	}{
		{"country only", country, nil, "vigil: impossible_travel off: VIGIL_GEOIP_DB is a GeoIP2-Country database and VIGIL_GEOIP_CITY_DB is empty", false},
		{"separate City file", country, []string{city}, "vigil: impossible_travel on: City data from " + city + " (GeoIP2-City)", true},
		{"City file as VIGIL_GEOIP_DB", city, nil, "vigil: impossible_travel on: City data from " + city + " (GeoIP2-City)", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, g, err := openGeo(&config.Config{GeoIPDB: tc.db, GeoIPCityDB: tc.cityDB})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var out bytes.Buffer
			(&pipeline{geo: db}).sayTravel(&out)
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("start-up output %q; want it to contain %q", out.String(), tc.want)
			}
			l, ok := g.(engine.Locator)
			if ok != tc.located {
				t.Fatalf("engine Geo is a Locator = %v; want %v", ok, tc.located)
			}
			if ok {
				if p, found := l.Locate(netip.MustParseAddr("81.2.69.142")); !found || p.Country != "GB" || p.RadiusKm != 20 {
					t.Errorf("Locate(81.2.69.142) = %+v, %v; want London, GB ±20 km", p, found)
				}
			}
		})
	}
	if _, _, err := openGeo(&config.Config{GeoIPDB: country, GeoIPCityDB: []string{country}}); err == nil || !strings.Contains(err.Error(), "VIGIL_GEOIP_CITY_DB") {
		t.Errorf("openGeo(a Country file as City data) = %v; want an error naming VIGIL_GEOIP_CITY_DB", err)
	}
}
