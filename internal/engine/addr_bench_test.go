package engine

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/gen"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/netset"
	"github.com/vigil-ids/vigil/internal/rule"
)

// BenchmarkAddrMemory reports the live heap per failing address (its own key and its /24) for 100,000 random
// addresses with one to three failures each (mistyped passwords from anywhere: the common case), and the time per
// decoded and applied failure.
func BenchmarkAddrMemory(b *testing.B) {
	const n = 100000
	r := rand.New(rand.NewPCG(7, 7))
	var wire [][]byte
	for i := range n {
		ip := netip.AddrFrom4([4]byte{byte(1 + r.IntN(220)), byte(r.IntN(256)), byte(r.IntN(256)), byte(1 + r.IntN(254))})
		for k := range 1 + r.IntN(3) {
			u := fmt.Sprintf("user%06d@example.org", r.IntN(1000000))
			data, err := event.MarshalAddr(&event.AddrEvent{ID: fmt.Sprintf("e%d-%d", i, k), Time: base.Add(time.Duration(r.IntN(86000)) * time.Second), IP: ip,
				User: u, Domain: "example.org", Service: "imap", PWHash: fmt.Sprintf("%03x", r.IntN(4096))})
			if err != nil {
				b.Fatal(err)
			}
			wire = append(wire, data)
		}
	}
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		e := NewAddr(&rule.Config{Global: rule.Defaults})
		var incs []incident.Incident
		var ev event.AddrEvent
		start := time.Now()
		for _, data := range wire { // decoded as the detector does: the strings the windows keep are the decoder's
			if err := event.UnmarshalAddr(data, &ev); err != nil {
				b.Fatal(err)
			}
			incs = e.Process(&ev, incs[:0])
		}
		elapsed := time.Since(start)
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap := float64(int64(after.HeapAlloc) - int64(before.HeapAlloc))
		b.ReportMetric(heap/float64(n), "bytes/address")
		b.ReportMetric(heap/float64(e.Keys()), "bytes/key")
		b.ReportMetric(float64(elapsed.Nanoseconds())/float64(len(wire)), "ns/failure")
		runtime.KeepAlive(e)
	}
}

// BenchmarkAddrMemoryPerUser loads the generated day of BenchmarkMemoryPerUser through the user engine and, as the
// detector republishes them, into an address engine, and reports the address engine's live heap per user of the
// day: what the address-keyed rules add to the memory per tracked user. VIGIL_BENCH_USERS sets the users (default
// 100,000).
func BenchmarkAddrMemoryPerUser(b *testing.B) {
	nets, g := benchGeo(b)
	n := 100000
	if v := os.Getenv("VIGIL_BENCH_USERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 100 {
			b.Fatalf("VIGIL_BENCH_USERS=%q: want a number >= 100", v)
		}
	}
	day, err := gen.Generate(gen.Options{Users: n, Seed: 7, LoginsPerUser: 6, SendsPerUser: 4, Compromised: 1, BulkSenders: 1}, nets)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		users := New(&rule.Config{Global: rule.Defaults}, g, func() Trust { return netset.NewSet(nil) })
		var wire [][]byte
		var incs []incident.Incident
		for i := range day.Events {
			ev := &day.Events[i]
			known := users.Known(ev.User, ev.IP)
			var rec event.Enriched
			rec, incs = users.Process(ev, incs[:0])
			if slim, ok := event.ForAddr(&rec.Event, rec.Trusted, known); ok {
				data, _ := event.MarshalAddr(&slim)
				wire = append(wire, data)
			}
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		e := NewAddr(&rule.Config{Global: rule.Defaults})
		var ev event.AddrEvent
		for _, data := range wire {
			if err := event.UnmarshalAddr(data, &ev); err != nil {
				b.Fatal(err)
			}
			incs = e.Process(&ev, incs[:0])
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap := float64(int64(after.HeapAlloc) - int64(before.HeapAlloc))
		b.ReportMetric(heap/float64(users.Users()), "bytes/user")
		b.ReportMetric(heap/float64(max(e.Keys(), 1)), "bytes/key")
		b.ReportMetric(float64(len(wire))/float64(len(day.Events)), "republished/event")
		runtime.KeepAlive(e)
	}
}
