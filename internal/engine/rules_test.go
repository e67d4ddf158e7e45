package engine

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/rule"
	"github.com/vigil-ids/vigil/internal/window"
)

// Failed logins count for brute_force: many passwords open one incident, a stale device from the user's address
// never does, and failures from a trusted network count for nothing.
func TestBruteForceThroughEngine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(&rule.Config{Global: rule.Defaults}, trustedAddrs{home: true})
		var incs []incident.Incident
		_, incs = e.Process(login("erin@example.org", gb, true), incs)
		for range 200 { // a phone with an old password, polling every 5 minutes from home, and from the office
			for _, ip := range []netip.Addr{gb, home} {
				ev := login("erin@example.org", ip, false)
				ev.PWHash = "stale0001"
				_, incs = e.Process(ev, incs)
			}
			time.Sleep(5 * time.Minute)
		}
		if len(incs) != 0 {
			t.Fatalf("stale device: %d incidents (%s); want none", len(incs), incs[0].Rule)
		}
		if n := e.users["erin@example.org"].FailureCount(); n != window.MaxPairFailures {
			t.Errorf("failures kept = %d; want %d (one pair, capped; trusted failures not kept)", n, window.MaxPairFailures)
		}
		for i := range 8 {
			ev := login("erin@example.org", au, false)
			ev.PWHash = fmt.Sprintf("guess%04d", i)
			_, incs = e.Process(ev, incs)
			time.Sleep(time.Second)
		}
		// The stale password and 7 guesses are 8 distinct passwords: the 7th guess opens the incident, the 8th updates it.
		if len(incs) != 2 || incs[0].Rule != "brute_force" || incs[0].DistinctPasswords != 8 || incs[1].ID != incs[0].ID ||
			incs[1].Version != 2 || incs[1].DistinctPasswords != 9 || incs[1].Failures != 8+window.MaxPairFailures {
			t.Fatalf("8 guessed passwords: %+v; want one brute_force incident opened at 8 distinct passwords, updated at 9 with %d failures", incs, 8+window.MaxPairFailures)
		}
		if want := incident.ID("brute_force", "erin@example.org", incs[0].WindowStart); incs[0].ID != want {
			t.Errorf("ID = %s; want %s", incs[0].ID, want)
		}
	})
}

// new_country after the learning period, switched off per domain, and not raised while learning.
func TestNewCountryThroughEngine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		domains, err := rule.ParseDomains("example.org:new_country=off")
		if err != nil {
			t.Fatal(err)
		}
		e := newEngine(&rule.Config{Global: rule.Thresholds{"multi_country": 3, "new_country": 2}, Domains: domains}, nil)
		var incs []incident.Incident
		for _, user := range []string{"fay@example.net", "gus@example.org"} {
			for range 10 {
				ev := login(user, gb, true)
				ev.Domain = user[4:]
				ev.ID = ev.ID + user
				_, incs = e.Process(ev, incs)
				time.Sleep(time.Hour)
			}
			ev := login(user, us, true)
			ev.Domain = user[4:]
			_, incs = e.Process(ev, incs)
		}
		if len(incs) != 1 || incs[0].Rule != "new_country" || incs[0].User != "fay@example.net" || incs[0].Countries[0] != "US" {
			t.Fatalf("incidents = %+v; want one new_country for fay (gus's domain has it off)", incs)
		}
	})
}

// A restart seeds the histories from storage and replays the last day: the history and the decisions match an
// engine that never stopped, and logins in both the seed and the replay count once.
func TestSeedHistoryAndReplay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := &rule.Config{Global: rule.Defaults}
		live := newEngine(cfg, nil)
		var evs []*event.Event
		for i := range 30 {
			evs = append(evs, login("hal@example.org", gb, true))
			if i == 20 {
				evs = append(evs, login("hal@example.org", au, true)) // new after learning
			}
			time.Sleep(2 * time.Hour)
		}
		cut := time.Now().Add(-24 * time.Hour)
		evs = append(evs, login("hal@example.org", us, true))
		var liveIncs []incident.Incident
		for _, ev := range evs {
			_, liveIncs = live.Process(ev, liveIncs)
		}
		// Storage holds the logins before the cut.
		var stored window.User
		for _, ev := range evs {
			if ev.Time.Before(cut) {
				stored.AddLogin(ev.Time, ev.IP, geo.Country(ev.IP), window.HashID(ev.ID))
				stored.Learn(ev.Time, geo.Country(ev.IP), 10)
			}
		}
		hist, first, _ := stored.History(cut)
		restarted := newEngine(cfg, nil)
		restarted.SeedHistory("hal@example.org", first, 10, hist, cut)
		var replayIncs []incident.Incident
		for _, ev := range evs {
			if !ev.Time.Before(cut.Add(-time.Hour)) { // the replay starts a little before the cut: overlap counts once
				_, replayIncs = restarted.Process(ev, replayIncs)
			}
		}
		lh, lf, _ := live.users["hal@example.org"].History(time.Now())
		rh, rf, _ := restarted.users["hal@example.org"].History(time.Now())
		if fmt.Sprint(lh) != fmt.Sprint(rh) || !lf.Equal(rf) {
			t.Errorf("history after restart = %+v from %v; want %+v from %v", rh, rf, lh, lf)
		}
		summary := func(incs []incident.Incident) string {
			var out []string
			for _, inc := range incs {
				if inc.Rule == "new_country" {
					out = append(out, fmt.Sprint(inc.ID, inc.Version, inc.Countries))
				}
			}
			return fmt.Sprint(out)
		}
		// AU (hour 40) is after the cut (hour 36), so the replay raises it again, with the same id, and US (hour 60)
		// updates that incident in both runs.
		if got, want := summary(replayIncs), summary(liveIncs); got != want || !strings.Contains(want, "[AU US]") {
			t.Errorf("new_country after restart = %s; want %s (as live)", got, want)
		}
	})
}

// Logins before the seeded history's cut are already in it: the replay's overlap does not count them again.
func TestSeedHistoryCutCountsOverlapOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(&rule.Config{Global: rule.Thresholds{"multi_country": 5}}, nil)
		cut := time.Now().UTC()
		hist := []window.HistoryCountry{{Country: "GB", LastUsed: cut.Truncate(24 * time.Hour)}}
		e.SeedHistory("ida@example.org", cut.Add(-5*24*time.Hour), 9, hist, cut) // one login short of learning
		overlap := login("ida@example.org", gb, true)
		overlap.Time = cut.Add(-time.Hour) // in storage and in the replay
		overlap.ID += "-overlap"
		_, incs := e.Process(overlap, nil)
		time.Sleep(time.Hour)
		_, incs = e.Process(login("ida@example.org", us, true), incs) // the 10th login: still learning
		if len(incs) != 0 {
			t.Fatalf("incidents = %+v; want none (the overlapping login was counted twice)", incs)
		}
		time.Sleep(time.Hour)
		_, incs = e.Process(login("ida@example.org", au, true), incs)
		if len(incs) == 0 || incs[len(incs)-1].Rule != "new_country" {
			t.Fatalf("11th login from AU: %+v; want new_country", incs)
		}
	})
}
