package geo

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"
)

// AssumedRadiusKm is the accuracy radius given to a location whose database states none (DB-IP Lite City has no
// accuracy radius). DB-IP Lite resolves an address to a city, so the point stands for a metropolitan area and the
// commuter belt around it: 100 km covers that, and it is small next to the 500 km a hop must exceed
// (rule impossible_travel), so it costs real detections nothing while two addresses of one region never look like a
// flight.
const AssumedRadiusKm = 100

// MaxCityFiles bounds the City files of one DB: ip-location-db ships DB-IP Lite City as one IPv4 and one IPv6 file.
const MaxCityFiles = 2

// Location is where a City database places an address. Lat and Lon are degrees, RadiusKm the radius around them
// that the address is within (the database's accuracy radius, or AssumedRadiusKm when it has none). City is filled
// only by CityName: the hot path does not decode names.
type Location struct {
	Lat, Lon float64
	RadiusKm int
	Country  string
	City     string
}

type citySchema int

const (
	schemaGeoIP2 citySchema = iota // MaxMind GeoIP2/GeoLite2 City: location.{latitude,longitude,accuracy_radius}
	schemaFlat                     // ip-location-db: latitude, longitude, city, country_code at the top level
)

type cityFile struct {
	path   string
	r      *maxminddb.Reader
	schema citySchema
	v6     bool // holds IPv6 networks (IPVersion 6); IPv4-only files answer IPv4 addresses only
}

// cityType classifies a database type as a City schema.
func cityType(t string) (citySchema, bool) {
	switch {
	case strings.HasPrefix(t, "city ipv"): // ip-location-db's dbip-city-mmdb: "city ipv4", "city ipv6"
		return schemaFlat, true
	case strings.Contains(t, "City") || strings.Contains(t, "Enterprise"):
		return schemaGeoIP2, true
	}
	return 0, false
}

// OpenCity adds City files to d: a MaxMind GeoIP2/GeoLite2 City file, or the IPv4 and IPv6 files of DB-IP Lite
// City as packaged by ip-location-db. Countries still come from the file given to Open; Locate uses these.
func (d *DB) OpenCity(paths ...string) error {
	if len(paths) == 0 || len(paths) > MaxCityFiles {
		return fmt.Errorf("geoip city: want 1 to %d files, got %d", MaxCityFiles, len(paths))
	}
	var files []cityFile
	fail := func(err error) error {
		for _, f := range files {
			f.r.Close()
		}
		return err
	}
	for _, p := range paths {
		if p == "" {
			return fail(errors.New("geoip city: empty file name"))
		}
		if _, err := os.Stat(p); err != nil {
			return fail(fmt.Errorf("geoip city database %s: %w", p, err))
		}
		r, err := maxminddb.Open(p)
		if err != nil {
			return fail(fmt.Errorf("geoip city database %s: %w", p, err))
		}
		s, ok := cityType(r.Metadata.DatabaseType)
		if !ok {
			r.Close()
			return fail(fmt.Errorf("geoip city database %s is of type %q; want a City database (GeoIP2-City, GeoLite2-City or ip-location-db's dbip-city)", p, r.Metadata.DatabaseType))
		}
		files = append(files, cityFile{path: p, r: r, schema: s, v6: r.Metadata.IPVersion == 6})
	}
	for _, f := range d.city {
		if f.r != d.mm {
			f.r.Close()
		}
	}
	d.city = files
	return nil
}

// HasCity reports whether d can place addresses on the map: a City file was added, or the file given to Open is
// itself a City database.
func (d *DB) HasCity() bool { return len(d.city) > 0 }

// CitySource describes the City files for the start-up log: their paths and database types.
func (d *DB) CitySource() string {
	var s []string
	for _, f := range d.city {
		s = append(s, fmt.Sprintf("%s (%s)", f.path, f.r.Metadata.DatabaseType))
	}
	return strings.Join(s, ", ")
}

type geoip2Loc struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	Location struct {
		Lat    float64 `maxminddb:"latitude"`
		Lon    float64 `maxminddb:"longitude"`
		Radius uint16  `maxminddb:"accuracy_radius"`
	} `maxminddb:"location"`
}

type flatLoc struct {
	Country string  `maxminddb:"country_code"`
	Lat     float64 `maxminddb:"latitude"`
	Lon     float64 `maxminddb:"longitude"`
}

// Locate places ip on the map. It reports false when no City file knows the address, the record has no
// coordinates, or the address is private, loopback, link-local or invalid. IPv4-mapped IPv6 addresses are looked
// up as IPv4.
func (d *DB) Locate(ip netip.Addr) (Location, bool) {
	ip = ip.Unmap()
	if len(d.city) == 0 || !public(ip) {
		return Location{}, false
	}
	for i := range d.city {
		f := &d.city[i]
		if ip.Is6() && !f.v6 {
			continue
		}
		res := f.r.Lookup(ip)
		if !res.Found() {
			continue
		}
		var loc Location
		switch f.schema {
		case schemaFlat:
			rec := flatLoc{Lat: math.NaN(), Lon: math.NaN()}
			if res.Decode(&rec) != nil {
				continue
			}
			loc = Location{Lat: rec.Lat, Lon: rec.Lon, RadiusKm: AssumedRadiusKm, Country: rec.Country}
		default:
			var rec geoip2Loc
			rec.Location.Lat, rec.Location.Lon = math.NaN(), math.NaN()
			if res.Decode(&rec) != nil {
				continue
			}
			loc = Location{Lat: rec.Location.Lat, Lon: rec.Location.Lon, RadiusKm: int(rec.Location.Radius), Country: rec.Country.ISOCode}
			if loc.RadiusKm == 0 {
				loc.RadiusKm = AssumedRadiusKm
			}
		}
		if !validCoords(loc.Lat, loc.Lon) {
			continue
		}
		return loc, true
	}
	return Location{}, false
}

// CityName returns the name of ip's city (English for MaxMind files), or "" when unknown.
func (d *DB) CityName(ip netip.Addr) string {
	ip = ip.Unmap()
	if !public(ip) {
		return ""
	}
	for i := range d.city {
		f := &d.city[i]
		if ip.Is6() && !f.v6 {
			continue
		}
		res := f.r.Lookup(ip)
		if !res.Found() {
			continue
		}
		var name string
		if f.schema == schemaFlat {
			_ = res.DecodePath(&name, "city")
		} else {
			_ = res.DecodePath(&name, "city", "names", "en")
		}
		if name != "" {
			return name
		}
	}
	return ""
}

func public(ip netip.Addr) bool {
	return ip.IsValid() && !ip.IsPrivate() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() && !ip.IsUnspecified()
}

// validCoords rejects missing (NaN), out-of-range and the (0, 0) "null island" coordinates some databases store
// for addresses they cannot place.
func validCoords(lat, lon float64) bool {
	return lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 && (lat != 0 || lon != 0)
}
