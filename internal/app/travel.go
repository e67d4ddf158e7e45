package app

import (
	"fmt"
	"io"
	"net/netip"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/geo"
	"github.com/vigil-ids/vigil/internal/window"
)

// cityGeo is a geo.DB with City data seen by the engine as an engine.Locator, which switches impossible_travel on.
type cityGeo struct{ *geo.DB }

var _ engine.Locator = cityGeo{}

// Locate implements engine.Locator.
func (c cityGeo) Locate(ip netip.Addr) (window.Place, bool) {
	loc, ok := c.DB.Locate(ip)
	return window.Place(loc), ok
}

// openGeo opens the country database and the City data of impossible_travel, and returns what the engine gets:
// the database, as an engine.Locator when it can place addresses.
func openGeo(cfg *config.Config) (*geo.DB, engine.Geo, error) {
	db, err := geo.Open(cfg.GeoIPDB)
	if err != nil {
		return nil, nil, fmt.Errorf("geoip database (VIGIL_GEOIP_DB; make geoip builds one): %w", err)
	}
	if len(cfg.GeoIPCityDB) > 0 {
		if err := db.OpenCity(cfg.GeoIPCityDB...); err != nil {
			db.Close()
			return nil, nil, fmt.Errorf("VIGIL_GEOIP_CITY_DB (make geoip fetches DB-IP Lite City): %w", err)
		}
	}
	if db.HasCity() {
		return db, cityGeo{db}, nil
	}
	return db, db, nil
}

// sayTravel tells the operator at start whether impossible_travel runs, and how to switch it on when it does not.
func (p *pipeline) sayTravel(out io.Writer) {
	if p.geo == nil {
		return // no detector in this process
	}
	if p.geo.HasCity() {
		fmt.Fprintf(out, "vigil: impossible_travel on: City data from %s\n", p.geo.CitySource())
		return
	}
	t, _, _ := p.geo.Metadata()
	fmt.Fprintf(out, "vigil: impossible_travel off: VIGIL_GEOIP_DB is a %s database and VIGIL_GEOIP_CITY_DB is empty; set it to a GeoIP2/GeoLite2 City file or to DB-IP Lite City's two files (make geoip fetches them) to switch it on\n", t)
}
