package engine

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/rule"
)

var base = time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)

var (
	sprayer = netip.MustParseAddr("203.0.113.9")
	nat     = netip.MustParseAddr("198.51.100.1")
)

func failure(user string, ip netip.Addr, at time.Duration, pwhash string) *event.AddrEvent {
	ev := &event.AddrEvent{Time: base.Add(at), IP: ip, User: user, Domain: "example.org", Service: "imap", PWHash: pwhash}
	ev.ID = fmt.Sprintf("%s|%s|%s|%s", user, ip, ev.Time.Format(time.RFC3339Nano), pwhash)
	return ev
}

func success(user string, ip netip.Addr, at time.Duration) *event.AddrEvent {
	ev := failure(user, ip, at, "")
	ev.Success, ev.ID = true, "ok|"+ev.ID
	return ev
}

func defaultsAddr() *AddrEngine { return NewAddr(&rule.Config{Global: rule.Defaults}) }

func byRule(incs []incident.Incident, r incident.Rule) []incident.Incident {
	return slices.DeleteFunc(slices.Clone(incs), func(i incident.Incident) bool { return i.Rule != r })
}

// latest keeps the newest version of each incident id.
func latest(incs []incident.Incident) map[string]incident.Incident {
	out := map[string]incident.Incident{}
	for _, i := range incs {
		if o, ok := out[i.ID]; !ok || i.Version > o.Version {
			out[i.ID] = i
		}
	}
	return out
}

func TestPasswordSprayAndVictim(t *testing.T) {
	e := defaultsAddr()
	var incs []incident.Incident
	for i := range 25 { // one failure per user, one a minute: Elastic's 25 failures in 30 minutes
		incs = e.Process(failure(fmt.Sprintf("u%02d@example.org", i), sprayer, time.Duration(i)*time.Minute, fmt.Sprintf("%03x", i)), incs)
		if got := len(byRule(incs, rule.PasswordSprayName)); i < 19 && got != 0 {
			t.Fatalf("password_spray after %d users: %d incidents; threshold is 20", i+1, got)
		}
	}
	sprays := latest(byRule(incs, rule.PasswordSprayName))
	if len(sprays) != 1 {
		t.Fatalf("password_spray incidents = %d; want 1 (one address, one window)", len(sprays))
	}
	var inc incident.Incident
	for _, inc = range sprays {
	}
	if inc.User != "" || inc.IPs[0] != sprayer.String() || inc.Addr == nil || inc.Addr.Targets != 25 || inc.Addr.Failures != 25 || len(inc.Addr.Users) != 25 || inc.Domain != "example.org" {
		t.Fatalf("spray incident = %+v addr=%+v; want user empty, address first in ips, 25 targets listed", inc, inc.Addr)
	}
	if want := incident.ID(rule.PasswordSprayName, "addr:"+sprayer.String(), base.Add(19*time.Minute)); inc.ID != want || !inc.WindowStart.Equal(base.Add(19*time.Minute)) {
		t.Errorf("id = %s window %s; want %s from the 20th failure", inc.ID, inc.WindowStart, want)
	}
	if len(byRule(incs, rule.BruteForceName)) != 0 {
		t.Errorf("brute_force by address fired on 25 slow single attempts: %+v", byRule(incs, rule.BruteForceName))
	}
	// The sprayer logs in to one target: the victim is named on the same incident.
	more := e.Process(success("u07@example.org", sprayer, 40*time.Minute), nil)
	if len(more) != 1 || more[0].ID != inc.ID || more[0].Version <= inc.Version || !cmp.Equal(more[0].Addr.Victims, []string{"u07@example.org"}) {
		t.Fatalf("after the victim's login: %+v; want the same incident, higher version, victim u07", more)
	}
}

// A device retrying one stale password all day never fires, with or without a hash, known address or not.
func TestStaleDeviceNeverFires(t *testing.T) {
	for _, tt := range []struct {
		name   string
		pwhash string
		every  time.Duration
		known  bool
	}{
		{"hash, unknown address, every 5 min", "0ab", 5 * time.Minute, false},
		{"hash, every 5 s", "0ab", 5 * time.Second, false},
		{"no hash, every minute", "", time.Minute, false},
		{"no hash, every 10 s", "", 10 * time.Second, false},
		{"no hash, usual address, every 2 s", "", 2 * time.Second, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := defaultsAddr()
			var incs []incident.Incident
			for at := time.Duration(0); at < 24*time.Hour; at += tt.every {
				for _, svc := range []string{"imap", "pop3", "submission", "smtp", "activesync"} { // every service retries
					ev := failure("alice@example.org", nat, at, tt.pwhash)
					ev.Service, ev.Known, ev.ID = svc, tt.known, svc+ev.ID
					incs = e.Process(ev, incs[:0])
					if len(incs) > 0 {
						t.Fatalf("incident at %s: %+v %+v", at, incs[0], incs[0].Addr)
					}
				}
			}
		})
	}
}

func TestBruteForceByAddress(t *testing.T) {
	t.Run("slow distinct hashes", func(t *testing.T) {
		e := defaultsAddr()
		var incs []incident.Incident
		for i := range 36 { // 6 users x 6 passwords, one attempt every 20 minutes: 30 beyond the first per user
			ev := failure(fmt.Sprintf("u%d@example.org", i%6), sprayer, time.Duration(i)*20*time.Minute, fmt.Sprintf("%03x", i))
			incs = e.Process(ev, incs)
			if n := len(byRule(incs, rule.BruteForceName)); (i < 35 && n != 0) || (i == 35 && n != 1) {
				t.Fatalf("after %d distinct attempts: %d brute_force incidents; want one at 36", i+1, n)
			}
		}
		inc := byRule(incs, rule.BruteForceName)[0]
		if inc.Addr.Hashes != 36 || inc.Addr.Attempts != 36 || inc.Addr.Targets != 6 || inc.User != "" {
			t.Errorf("evidence = %+v; want 36 distinct hashes over 6 users", inc.Addr)
		}
	})
	t.Run("fast", func(t *testing.T) {
		e := defaultsAddr()
		var incs []incident.Incident
		for i := range 10 { // 10 passwords against one user in 90 s
			incs = e.Process(failure("bob@example.org", sprayer, time.Duration(i)*10*time.Second, fmt.Sprintf("%03x", i)), incs)
		}
		if n := len(byRule(incs, rule.BruteForceName)); n != 1 || incs[0].Addr.Fast != 10 {
			t.Fatalf("10 distinct passwords in 90 s: %+v; want one brute_force with fast=10", incs)
		}
	})
	t.Run("fast without hashes across users", func(t *testing.T) {
		e := defaultsAddr()
		var incs []incident.Incident
		for i := range 10 {
			incs = e.Process(failure(fmt.Sprintf("u%d@example.org", i), sprayer, time.Duration(i)*5*time.Second, ""), incs)
		}
		if len(byRule(incs, rule.BruteForceName)) != 1 {
			t.Fatalf("10 hashless failures against 10 users in 50 s: %+v; want brute_force", incs)
		}
	})
	t.Run("redelivered failures count once", func(t *testing.T) {
		e := defaultsAddr()
		var incs []incident.Incident
		for range 3 {
			for i := range 9 {
				incs = e.Process(failure("bob@example.org", sprayer, time.Duration(i)*10*time.Second, fmt.Sprintf("%03x", i)), incs)
			}
		}
		if len(incs) != 0 {
			t.Fatalf("9 distinct attempts delivered 3 times: %+v; want none", incs)
		}
		incs = e.Process(failure("bob@example.org", sprayer, 95*time.Second, "fff"), incs)
		if len(incs) != 1 || incs[0].Addr.Failures != 10 {
			t.Fatalf("after the 10th: %+v; want one incident counting 10 failures", incs)
		}
	})
}

// A shared address (office NAT, carrier) where a few users of many fail is not a sprayer.
func TestSharedAddressDoesNotSpray(t *testing.T) {
	e := defaultsAddr()
	var incs []incident.Incident
	incs = e.Process(failure("early@example.org", nat, 0, "111"), incs) // the key is tracked from its first failure
	for i := range 100 {
		incs = e.Process(success(fmt.Sprintf("staff%03d@example.org", i), nat, time.Duration(i)*time.Minute), incs)
	}
	for i := range 30 {
		incs = e.Process(failure(fmt.Sprintf("staff%03d@example.org", 100+i), nat, 2*time.Hour+time.Duration(i)*time.Minute, fmt.Sprintf("%03x", i)), incs)
	}
	if len(byRule(incs, rule.PasswordSprayName)) != 0 {
		t.Fatalf("30 failing users among 130 at a shared address: %+v; want no spray", incs[0].Addr)
	}
}

func TestPrefixKeys(t *testing.T) {
	t.Run("spread over a /24", func(t *testing.T) {
		e := defaultsAddr()
		var incs []incident.Incident
		for i := range 20 {
			ip := netip.AddrFrom4([4]byte{203, 0, 113, byte(10 + i)})
			incs = e.Process(failure(fmt.Sprintf("u%02d@example.org", i), ip, time.Duration(i)*time.Minute, "abc"), incs)
		}
		got := latest(incs)
		if len(got) != 1 {
			t.Fatalf("incidents = %d; want 1 for the prefix", len(got))
		}
		for _, inc := range got {
			if inc.Rule != rule.PasswordSprayName || inc.IPs[0] != "203.0.113.0/24" || inc.Addr.Addresses != 20 || len(inc.IPs) != 21 || inc.Addr.Targets != 20 || inc.Addr.Failures != 20 {
				t.Errorf("incident = %+v %+v; want password_spray on 203.0.113.0/24 over 20 addresses", inc, inc.Addr)
			}
		}
	})
	t.Run("one address is its own key only", func(t *testing.T) {
		e := defaultsAddr()
		var incs []incident.Incident
		for i := range 20 {
			incs = e.Process(failure(fmt.Sprintf("u%02d@example.org", i), sprayer, time.Duration(i)*time.Minute, "abc"), incs)
		}
		for _, inc := range latest(incs) {
			if inc.IPs[0] != sprayer.String() {
				t.Errorf("incident on %s; want only the address's", inc.IPs[0])
			}
		}
	})
	t.Run("IPv6 /64", func(t *testing.T) {
		e := defaultsAddr()
		var incs []incident.Incident
		for i := range 20 {
			ip := netip.MustParseAddr(fmt.Sprintf("2001:db8:1:2::%x", i+1))
			incs = e.Process(failure(fmt.Sprintf("u%02d@example.org", i), ip, time.Duration(i)*time.Minute, "abc"), incs)
		}
		if got := latest(incs); len(got) != 1 || incs[0].IPs[0] != "2001:db8:1:2::/64" {
			t.Fatalf("incidents = %+v; want one on 2001:db8:1:2::/64", incs)
		}
	})
}

func TestAddrRuleOffPerDomain(t *testing.T) {
	e := NewAddr(&rule.Config{Global: rule.Defaults, Domains: map[string]rule.Thresholds{"quiet.example": {rule.PasswordSprayName: rule.Off}}})
	var incs []incident.Incident
	for i := range 30 {
		ev := failure(fmt.Sprintf("u%02d@quiet.example", i), sprayer, time.Duration(i)*time.Minute, "abc")
		ev.Domain = "quiet.example"
		incs = e.Process(ev, incs)
	}
	if len(incs) != 0 {
		t.Fatalf("spray against a domain with password_spray=off: %+v; want none", incs)
	}
	for i := range 20 {
		incs = e.Process(failure(fmt.Sprintf("u%02d@example.org", i), sprayer, time.Hour+time.Duration(i)*time.Minute, "abc"), incs)
	}
	got := latest(incs)
	if len(got) != 1 {
		t.Fatalf("incidents = %d; want one spray counting only example.org's 20 users", len(got))
	}
	for _, inc := range got {
		if inc.Addr.Targets != 20 {
			t.Errorf("targets = %d; want 20 (quiet.example's users not counted)", inc.Addr.Targets)
		}
	}
}

// The same stream gives the same incidents, and a seeded engine continues an incident instead of opening another.
func TestAddrReplayAndSeed(t *testing.T) {
	var evs []*event.AddrEvent
	for i := range 40 {
		evs = append(evs, failure(fmt.Sprintf("u%02d@example.org", i%25), sprayer, time.Duration(i)*time.Minute, fmt.Sprintf("%03x", i)))
	}
	run := func(e *AddrEngine, evs []*event.AddrEvent) []incident.Incident {
		var incs []incident.Incident
		for _, ev := range evs {
			incs = e.Process(ev, incs)
		}
		return incs
	}
	a, b := run(defaultsAddr(), evs), run(defaultsAddr(), evs)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("two runs over one stream differ:\n%s", diff)
	}
	last := latest(a)
	e := defaultsAddr()
	for _, inc := range last {
		e.Seed(inc)
	}
	run(e, evs[:39]) // the replay rebuilds the window
	next := e.Process(failure("u99@example.org", sprayer, 41*time.Minute, "999"), nil)
	for _, inc := range next {
		if old, ok := last[inc.ID]; !ok || inc.Version <= old.Version {
			t.Errorf("after seed and replay: %s v%d; want a continued incident with a higher version", inc.ID, inc.Version)
		}
	}
	if len(next) == 0 {
		t.Fatal("no incident update after seed and replay")
	}
}

// Successes at an address with no failure are not tracked: memory follows the failing addresses.
func TestAddrSuccessOnlyKeysUntracked(t *testing.T) {
	e := defaultsAddr()
	for i := range 100 {
		e.Process(success(fmt.Sprintf("u%d@example.org", i), netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), time.Duration(i)*time.Second), nil)
	}
	if n := e.Keys(); n != 0 {
		t.Fatalf("keys after 100 successes and no failure = %d; want 0", n)
	}
	e.Process(failure("x@example.org", sprayer, time.Minute, "abc"), nil)
	if n := e.Keys(); n != 1 {
		t.Fatalf("keys after one failure = %d; want 1 (the address; its /24 only once a second address fails)", n)
	}
	e.Process(failure("y@example.org", sprayer.Next(), 2*time.Minute, "abc"), nil)
	if n := e.Keys(); n != 3 {
		t.Fatalf("keys after a second address of the /24 failed = %d; want 3", n)
	}
}

// brute_force=off for a domain switches its address half off for that domain's users; its configured level (the
// per-user half's) does not change the address half's threshold.
func TestAddrBruteForceOffPerDomain(t *testing.T) {
	cfg := &rule.Config{Global: rule.Thresholds{rule.BruteForceName: 3}, Domains: map[string]rule.Thresholds{"quiet.example": {rule.BruteForceName: rule.Off}}}
	e := NewAddr(cfg)
	var incs []incident.Incident
	for i := range 12 {
		ev := failure("bob@quiet.example", sprayer, time.Duration(i)*5*time.Second, fmt.Sprintf("%03x", i))
		ev.Domain = "quiet.example"
		incs = e.Process(ev, incs)
	}
	if len(incs) != 0 {
		t.Fatalf("12 fast passwords against a domain with brute_force=off: %+v; want none", incs)
	}
	for i := range 9 {
		incs = e.Process(failure("bob@example.org", sprayer, time.Minute+time.Duration(i)*5*time.Second, fmt.Sprintf("%03x", i)), incs)
	}
	if len(incs) != 0 {
		t.Fatalf("9 fast passwords (level 3 configured for the per-user half): %+v; want none below the fixed 10", incs)
	}
	incs = e.Process(failure("bob@example.org", sprayer, 2*time.Minute, "fff"), incs)
	if len(incs) != 1 || incs[0].Rule != rule.BruteForceName || incs[0].Addr.Attempts != 10 {
		t.Fatalf("after the 10th: %+v; want one brute_force counting example.org only", incs)
	}
}

// The address window rolls: a day later the old targets are gone, and a new spray opens a new incident.
func TestAddrWindowRolls(t *testing.T) {
	e := defaultsAddr()
	var incs []incident.Incident
	for i := range 20 {
		incs = e.Process(failure(fmt.Sprintf("u%02d@example.org", i), sprayer, time.Duration(i)*time.Minute, "abc"), incs)
	}
	first := latest(incs)
	if len(first) != 1 {
		t.Fatalf("incidents = %d; want 1", len(first))
	}
	next := e.Process(failure("late@example.org", sprayer, 25*time.Hour, "abc"), nil)
	if len(next) != 0 {
		t.Fatalf("one failure a day later: %+v; want none (the old targets rolled off)", next)
	}
	for i := range 19 {
		next = e.Process(failure(fmt.Sprintf("v%02d@example.org", i), sprayer, 25*time.Hour+time.Duration(i+1)*time.Minute, "abc"), next)
	}
	got := latest(next)
	if len(got) != 1 {
		t.Fatalf("a new spray a day later: %d incidents; want 1", len(got))
	}
	for id, inc := range got {
		if _, old := first[id]; old || inc.Addr.Targets != 20 {
			t.Errorf("new spray: id %s (reused: %v) targets %d; want a new id and 20 targets", id, old, inc.Addr.Targets)
		}
	}
	if n := e.Evict(); n != 1 {
		t.Errorf("keys after Evict = %d; want 1 (the active address)", n)
	}
}
