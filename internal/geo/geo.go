// Package geo maps client addresses to ISO country codes from a GeoIP2/GeoLite2 Country or City database, and places
// them on the map (coordinates and accuracy radius) from City data.
package geo

import (
	"errors"
	"fmt"
	"iter"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"
)

// DB is an open GeoIP database. It is safe for concurrent use.
type DB struct {
	path string
	r    *geoip2.Reader    // validates the database type, metadata
	mm   *maxminddb.Reader // the same file, for country lookups without geoip2's records
	city []cityFile        // City files for Locate (see city.go); may include mm itself

	// countries caches the country of each data record decoded so far, by its offset in the file: a Country
	// database has one record per country, so after the first lookups Country only walks the tree. A City database
	// has one per city; past maxCachedRecords records the others are decoded at each lookup.
	countriesMu sync.RWMutex
	countries   map[uintptr]string
}

const maxCachedRecords = 1 << 14

// Open opens a GeoIP2/GeoLite2 Country or City database, or one written by vigil geoip import.
func Open(path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("geoip: no database path given")
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("geoip database %s: %w", path, err)
	}
	r, err := geoip2.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geoip database %s: %w", path, err)
	}
	t := r.Metadata().DatabaseType
	if !strings.Contains(t, "Country") && !strings.Contains(t, "City") && !strings.Contains(t, "Enterprise") {
		r.Close()
		return nil, fmt.Errorf("geoip database %s is of type %q; want a Country or City database", path, t)
	}
	mm, err := maxminddb.Open(path)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("geoip database %s: %w", path, err)
	}
	d := &DB{path: path, r: r, mm: mm, countries: map[uintptr]string{}}
	if s, ok := cityType(t); ok && strings.Contains(t, "City") {
		d.city = []cityFile{{path: path, r: mm, schema: s, v6: mm.Metadata.IPVersion == 6}}
	}
	return d, nil
}

// Country returns the upper-case ISO 3166-1 alpha-2 code of ip's country, or "" when unknown, private or
// invalid. IPv4-mapped IPv6 addresses are looked up as IPv4.
func (d *DB) Country(ip netip.Addr) string {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() {
		return ""
	}
	res := d.mm.Lookup(ip)
	if !res.Found() {
		return ""
	}
	off := res.Offset()
	d.countriesMu.RLock()
	cc, ok := d.countries[off]
	d.countriesMu.RUnlock()
	if ok {
		return cc
	}
	cc = countryOf(res)
	d.countriesMu.Lock()
	if len(d.countries) < maxCachedRecords {
		d.countries[off] = cc
	}
	d.countriesMu.Unlock()
	return cc
}

// countryOf decodes a record's country code, else its registered country's; "" when it has neither.
func countryOf(res maxminddb.Result) string {
	var cc string
	if res.DecodePath(&cc, "country", "iso_code") == nil && len(cc) == 2 {
		return cc
	}
	cc = ""
	if res.DecodePath(&cc, "registered_country", "iso_code") == nil && len(cc) == 2 {
		return cc
	}
	return ""
}

// Metadata describes the database.
func (d *DB) Metadata() (dbType string, built time.Time, description string) {
	m := d.r.Metadata()
	return m.DatabaseType, time.Unix(int64(m.BuildEpoch), 0).UTC(), m.Description["en"]
}

// Networks iterates over the database's networks that have a country, with their ISO code.
func (d *DB) Networks() iter.Seq2[netip.Prefix, string] {
	return func(yield func(netip.Prefix, string) bool) {
		r, err := maxminddb.Open(d.path)
		if err != nil {
			return
		}
		defer r.Close()
		var rec struct {
			Country struct {
				ISOCode string `maxminddb:"iso_code"`
			} `maxminddb:"country"`
		}
		for res := range r.Networks() {
			rec.Country.ISOCode = ""
			if res.Decode(&rec) != nil || len(rec.Country.ISOCode) != 2 {
				continue
			}
			if !yield(res.Prefix(), rec.Country.ISOCode) {
				return
			}
		}
	}
}

// Close releases the database.
func (d *DB) Close() error {
	for _, f := range d.city {
		if f.r != d.mm {
			f.r.Close()
		}
	}
	d.mm.Close()
	return d.r.Close()
}
