package geo

import (
	"github.com/oschwald/maxminddb-golang/v2/mmdbdata"
)

// The City records are decoded by hand (mmdbdata.CursorUnmarshaler) rather than by reflection: only the
// coordinates, the radius and the country code are read, every other field is skipped, and no name is decoded.
// The map loop is written out in each decoder on purpose: one helper taking a closure per map made a lookup
// allocate 6 to 9 times instead of once (BenchmarkLocate, -benchmem).

// UnmarshalMaxMindDBCursor reads ip-location-db's flat record (country_code, latitude, longitude, ...).
func (r *flatLoc) UnmarshalMaxMindDBCursor(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	m, err := c.Map()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	var next mmdbdata.Cursor
	for {
		key, val, ok := m.Next(next)
		if !ok {
			break
		}
		switch string(key) {
		case "latitude":
			r.Lat, next, err = val.ReadFloat()
		case "longitude":
			r.Lon, next, err = val.ReadFloat()
		case "country_code":
			r.Country, next, err = val.ReadStringMaxSize(8)
		default:
			next, err = val.Skip()
		}
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return m.End()
}

// UnmarshalMaxMindDBCursor reads a GeoIP2 City record's country.iso_code and location.
func (r *geoip2Loc) UnmarshalMaxMindDBCursor(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	m, err := c.Map()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	var next mmdbdata.Cursor
	for {
		key, val, ok := m.Next(next)
		if !ok {
			break
		}
		switch string(key) {
		case "country":
			next, err = r.country(val)
		case "location":
			next, err = r.location(val)
		default:
			next, err = val.Skip()
		}
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return m.End()
}

func (r *geoip2Loc) country(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	m, err := c.Map()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	var next mmdbdata.Cursor
	for {
		key, val, ok := m.Next(next)
		if !ok {
			break
		}
		if string(key) == "iso_code" {
			r.Country.ISOCode, next, err = val.ReadStringMaxSize(8)
		} else {
			next, err = val.Skip()
		}
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return m.End()
}

func (r *geoip2Loc) location(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	m, err := c.Map()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	var next mmdbdata.Cursor
	for {
		key, val, ok := m.Next(next)
		if !ok {
			break
		}
		switch string(key) {
		case "latitude":
			r.Location.Lat, next, err = val.ReadFloat()
		case "longitude":
			r.Location.Lon, next, err = val.ReadFloat()
		case "accuracy_radius":
			var v uint64
			v, next, err = val.ReadUint()
			r.Location.Radius = uint16(min(v, 65535))
		default:
			next, err = val.Skip()
		}
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return m.End()
}
