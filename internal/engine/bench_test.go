package engine

import (
	"net/netip"
	"os"
	"runtime"
	"testing"
	"unsafe"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/gen"
	geodb "github.com/vigil-ids/vigil/internal/geo"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/netset"
	"github.com/vigil-ids/vigil/internal/rule"
)

// benchGeo returns networks and a locator: the database named by VIGIL_GEOIP_DB (as bin/vigil bench uses), or a
// synthetic table of one /16 per country.
func benchGeo(b *testing.B) ([]gen.Network, Geo) {
	if path := os.Getenv("VIGIL_GEOIP_DB"); path != "" {
		db, err := geodb.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		var nets []gen.Network
		for p, cc := range db.Networks() {
			nets = append(nets, gen.Network{Prefix: p, Country: cc})
		}
		return nets, db
	}
	codes := []string{"US", "GB", "FR", "DE", "NL", "CA", "AU", "BR", "IN", "JP", "RU", "TR", "LT", "PH", "VN", "AR", "AE", "AT"}
	var nets []gen.Network
	g := slash16{}
	for i, cc := range codes {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(20 + i), 1, 0, 0}), 16)
		nets = append(nets, gen.Network{Prefix: p, Country: cc})
		g[p] = cc
	}
	return nets, g
}

type slash16 map[netip.Prefix]string

func (s slash16) Country(ip netip.Addr) string {
	p, _ := ip.Prefix(16)
	return s[p]
}

// BenchmarkMemoryPerUser loads a generated day (as bin/vigil bench does) and reports the live heap per tracked user.
func BenchmarkMemoryPerUser(b *testing.B) {
	nets, g := benchGeo(b)
	const n = 100000
	day, err := gen.Generate(gen.Options{Users: n, Seed: 7, LoginsPerUser: 6, SendsPerUser: 4, Compromised: 1, BulkSenders: 1}, nets)
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
		n := float64(e.Users())
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "bytes/user")
		var recs, keys int
		for name, u := range e.users {
			recs += u.Footprint()
			keys += sizeClass(len(name))
		}
		b.ReportMetric(float64(recs)/n, "recs-bytes/user")
		b.ReportMetric(float64(keys)/n, "key-bytes/user")
		b.ReportMetric(float64(sizeClass(int(unsafe.Sizeof(user{})))), "struct-bytes/user")
		runtime.KeepAlive(e)
	}
}

// sizeClass is the Go allocator's size class for a small object of n bytes (n <= 128).
func sizeClass(n int) int {
	for _, c := range []int{8, 16, 24, 32, 48, 64, 80, 96, 112, 128} {
		if n <= c {
			return c
		}
	}
	return n
}

// BenchmarkProcess runs a generated day through the engine, decoded events in hand.
func BenchmarkProcess(b *testing.B) {
	b.ReportAllocs()
	nets, g := benchGeo(b)
	day, err := gen.Generate(gen.Options{Users: 20000, Seed: 42}, nets)
	if err != nil {
		b.Fatal(err)
	}
	e := New(&rule.Config{Global: rule.Defaults}, g, func() Trust { return netset.NewSet(nil) })
	var incs []incident.Incident
	i := 0
	for b.Loop() {
		if i == len(day.Events) {
			i = 0
			e = New(&rule.Config{Global: rule.Defaults}, g, func() Trust { return netset.NewSet(nil) })
		}
		_, incs = e.Process(&day.Events[i], incs[:0])
		i++
	}
}
