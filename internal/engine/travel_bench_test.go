package engine

import (
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/gen"
	geodb "github.com/vigil-ids/vigil/internal/geo"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/netset"
	"github.com/vigil-ids/vigil/internal/rule"
	"github.com/vigil-ids/vigil/internal/window"
)

type benchCity struct{ *geodb.DB }

func (c benchCity) Locate(ip netip.Addr) (window.Place, bool) {
	l, ok := c.DB.Locate(ip)
	return window.Place(l), ok
}

// openCityGeo opens VIGIL_GEOIP_DB with the City files of VIGIL_GEOIP_CITY_DB (comma-separated), closed when b ends,
// and skips b when either is unset.
func openCityGeo(b *testing.B) benchCity {
	path, city := os.Getenv("VIGIL_GEOIP_DB"), os.Getenv("VIGIL_GEOIP_CITY_DB")
	if path == "" || city == "" {
		b.Skip("needs VIGIL_GEOIP_DB and VIGIL_GEOIP_CITY_DB")
	}
	db, err := geodb.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := db.OpenCity(strings.Split(city, ",")...); err != nil {
		b.Fatal(err)
	}
	return benchCity{db}
}

// BenchmarkMemoryPerUserCity is BenchmarkMemoryPerUser with impossible_travel on: VIGIL_GEOIP_DB plus the City
// files of VIGIL_GEOIP_CITY_DB (comma-separated), and the generated day's travel scenarios.
func BenchmarkMemoryPerUserCity(b *testing.B) {
	g := openCityGeo(b)
	db := g.DB
	const n = 100000
	day, err := gen.Generate(gen.Options{Users: n, Seed: 7, LoginsPerUser: 6, SendsPerUser: 4, Compromised: 1, BulkSenders: 1, Locate: g.Locate}, gen.Networks(db.Networks()))
	if err != nil {
		b.Fatal(err)
	}
	wire := make([][]byte, len(day.Events))
	for i := range day.Events {
		wire[i], _ = event.Marshal(&day.Events[i])
	}
	for b.Loop() {
		var incs []incident.Incident
		var before, after runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&before)
		e := New(&rule.Config{Global: rule.Defaults}, g, func() Trust { return netset.NewSet(nil) })
		var ev event.Event
		for _, data := range wire {
			if err := event.Unmarshal(data, &ev); err != nil {
				b.Fatal(err)
			}
			_, incs = e.Process(&ev, incs[:0])
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(e.Users()), "bytes/user")
		runtime.KeepAlive(e)
	}
}

// BenchmarkProcessCity runs one generated day (generated with the City data, as make demo does) through the engine
// with VIGIL_GEOIP_DB alone ("country") and with the City files of VIGIL_GEOIP_CITY_DB ("city"), in the same run.
func BenchmarkProcessCity(b *testing.B) {
	path, city := os.Getenv("VIGIL_GEOIP_DB"), os.Getenv("VIGIL_GEOIP_CITY_DB")
	if path == "" || city == "" {
		b.Skip("needs VIGIL_GEOIP_DB and VIGIL_GEOIP_CITY_DB")
	}
	db, err := geodb.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	withCity, err := geodb.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer withCity.Close()
	if err := withCity.OpenCity(strings.Split(city, ",")...); err != nil {
		b.Fatal(err)
	}
	day, err := gen.Generate(gen.Options{Users: 20000, Seed: 42, Locate: benchCity{withCity}.Locate}, gen.Networks(db.Networks()))
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		g    Geo
	}{{"country", db}, {"city", benchCity{withCity}}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			e := New(&rule.Config{Global: rule.Defaults}, tc.g, func() Trust { return netset.NewSet(nil) })
			var incs []incident.Incident
			i := 0
			for b.Loop() {
				if i == len(day.Events) {
					i = 0
					e = New(&rule.Config{Global: rule.Defaults}, tc.g, func() Trust { return netset.NewSet(nil) })
				}
				_, incs = e.Process(&day.Events[i], incs[:0])
				i++
			}
		})
	}
}
