package gen

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/rule"
)

// testNetworks spreads twelve countries over distinct /16s.
func testNetworks() []Network {
	var ns []Network
	for i, cc := range []string{"DE", "FR", "GB", "US", "NL", "ES", "IT", "PL", "BR", "NG", "VN", "RU"} {
		for j := range 12 - i/2 {
			ns = append(ns, Network{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(11 + i), byte(j * 8), 0, 0}), 16), Country: cc})
		}
	}
	return ns
}

type prefixGeo []Network

func (g prefixGeo) Country(ip netip.Addr) string {
	for _, n := range g {
		if n.Prefix.Contains(ip) {
			return n.Country
		}
	}
	return ""
}

type prefixTrust []Trusted

func (t prefixTrust) Trusted(user, domain string, ip netip.Addr) bool {
	for _, e := range t {
		if e.Prefix.Contains(ip) && (e.Scope == "global" || e.Scope == "domain" && e.Subject == domain || e.Scope == "user" && e.Subject == user) {
			return true
		}
	}
	return false
}

// matchGroundTruth runs the user and address engines over day, as the detector does, and reports every difference
// between the incidents raised and day.Expected; check, when not nil, sees every incident. It returns the rules
// raised per key.
func matchGroundTruth(t *testing.T, day *Day, geo engine.Geo, check func(incident.Incident)) map[string][]incident.Rule {
	t.Helper()
	e := engine.New(&rule.Config{Global: rule.Defaults}, geo, func() engine.Trust { return prefixTrust(day.Trusted) })
	addrs := engine.NewAddr(&rule.Config{Global: rule.Defaults})
	got := map[string][]incident.Rule{}
	var incs []incident.Incident
	for i := range day.Events {
		known := e.Known(day.Events[i].User, day.Events[i].IP)
		var rec event.Enriched
		rec, incs = e.Process(&day.Events[i], incs[:0])
		incs = republish(addrs, &rec, known, incs)
		for _, inc := range incs {
			if !slices.Contains(got[inc.Key()], inc.Rule) {
				got[inc.Key()] = append(got[inc.Key()], inc.Rule)
			}
			if check != nil {
				check(inc)
			}
		}
	}
	for u, rules := range day.Expected {
		slices.Sort(rules)
		slices.Sort(got[u])
		if !slices.Equal(rules, got[u]) {
			t.Errorf("%s (%s): incidents %v; want %v", u, day.Profiles[u], got[u], rules)
		}
	}
	for u, rules := range got {
		if _, ok := day.Expected[u]; !ok {
			t.Errorf("%s (%s): unexpected incidents %v", u, day.Profiles[u], rules)
		}
	}
	return got
}

// TestGroundTruthMatchesEngine runs the engine over a generated day: it must raise exactly the expected incidents.
// Seed 4 has a dictionary brute forcer fast enough for the address half of brute_force as well.
func TestGroundTruthMatchesEngine(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			nets := testNetworks()
			day, err := Generate(Options{Users: 1500, Seed: seed, End: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}, nets)
			if err != nil {
				t.Fatal(err)
			}
			got := matchGroundTruth(t, day, prefixGeo(nets), nil)
			count := map[Profile]int{}
			for _, p := range day.Profiles {
				count[p]++
			}
			if count[Compromised] != 3 || count[BulkSender] != 2 || count[Traveller] == 0 || count[Mobile] == 0 {
				t.Errorf("profiles = %v; want 3 compromised, 2 bulk, some travellers and mobile users", count)
			}
			if count[BruteForced] != 2 || count[StaleDevice] < 3 || count[NewCountry] != 2 || count[Familiar] != 2 {
				t.Errorf("profiles = %v; want 2 brute-forced, at least 3 stale devices, 2 new-country users and 2 familiar travellers", count)
			}
			for u, p := range day.Profiles {
				if want := map[Profile]incident.Rule{BruteForced: "brute_force", NewCountry: "new_country"}[p]; want != "" && !slices.Contains(got[u], want) {
					t.Errorf("%s (%s): incidents %v; want %s among them", u, p, got[u], want)
				}
			}
			if !slices.IsSortedFunc(day.Events, func(a, b event.Event) int { return a.Time.Compare(b.Time) }) {
				t.Error("events are not ordered by time")
			}
		})
	}
}
