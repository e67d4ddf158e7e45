package engine

import (
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/rule"
)

// countries is a tiny geolocation table for unit tests of the pure engine; integration tests use a real database.
type countries map[netip.Addr]string

func (c countries) Country(ip netip.Addr) string { return c[ip] }

type trustedAddrs map[netip.Addr]bool

func (t trustedAddrs) Trusted(_, _ string, ip netip.Addr) bool { return t[ip] }

var (
	gb   = netip.MustParseAddr("81.2.69.142")
	us   = netip.MustParseAddr("8.8.8.8")
	au   = netip.MustParseAddr("1.1.1.1")
	home = netip.MustParseAddr("198.51.100.7") // trusted office range, located in US
	geo  = countries{gb: "GB", us: "US", au: "AU", home: "US"}
)

func newEngine(cfg *rule.Config, trusted trustedAddrs) *Engine {
	return New(cfg, geo, func() Trust { return trusted })
}

func login(user string, ip netip.Addr, ok bool) *event.Event {
	ev := &event.Event{Kind: event.KindLogin, Time: time.Now().UTC(), User: user, Domain: "example.org", IP: ip, Service: "imap", Success: ok}
	ev.ID = event.ContentID(ev)
	return ev
}

func send(user string, rcpts int) *event.Event {
	ev := &event.Event{Kind: event.KindSend, Time: time.Now().UTC(), User: user, Domain: "example.org", IP: gb, Service: "submission", Recipients: rcpts}
	ev.ID = event.ContentID(ev)
	return ev
}

func TestMultiCountry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(&rule.Config{Global: rule.Defaults}, trustedAddrs{home: true})
		var incs []incident.Incident
		_, incs = e.Process(login("alice@example.org", gb, true), incs)
		time.Sleep(time.Hour)
		_, incs = e.Process(login("alice@example.org", us, false), incs)  // failed: never counts
		_, incs = e.Process(login("alice@example.org", home, true), incs) // trusted: never counts
		if len(incs) != 0 {
			t.Fatalf("incidents after GB + failed US + trusted US = %+v; want none", incs)
		}
		time.Sleep(time.Hour)
		rec, incs := e.Process(login("alice@example.org", au, true), incs)
		if rec.Country != "AU" || rec.Trusted {
			t.Errorf("enriched = %q trusted=%v; want AU untrusted", rec.Country, rec.Trusted)
		}
		if len(incs) != 1 {
			t.Fatalf("incidents after GB + AU = %d; want 1", len(incs))
		}
		inc := incs[0]
		if inc.Rule != incident.MultiCountry || inc.Logins != 2 || len(inc.Countries) != 2 || inc.Countries[0] != "AU" || inc.Countries[1] != "GB" {
			t.Errorf("incident = %+v; want multi_country AU,GB with 2 logins", inc)
		}
		if want := incident.ID(incident.MultiCountry, "alice@example.org", inc.WindowStart); inc.ID != want {
			t.Errorf("ID = %s; want %s", inc.ID, want)
		}
		// More evidence updates the same incident with a higher version, sends included.
		_, more := e.Process(send("alice@example.org", 4), nil)
		if len(more) != 1 || more[0].ID != inc.ID || more[0].Version <= inc.Version || more[0].Messages24h != 1 || more[0].Recipients24h != 4 {
			t.Fatalf("after a send: %+v; want the same incident, higher version, 1 message, 4 recipients", more)
		}
		// A day later the old evidence has rolled off and a new pair of countries opens a new incident.
		time.Sleep(25 * time.Hour)
		_, next := e.Process(login("alice@example.org", gb, true), nil)
		if len(next) != 0 {
			t.Fatalf("one country after the window rolled: %+v; want no incident", next)
		}
		_, next = e.Process(login("alice@example.org", us, true), nil)
		if len(next) != 1 || next[0].ID == inc.ID {
			t.Fatalf("new pair of countries a day later: %+v; want a new incident id", next)
		}
	})
}

func TestSendVolumeThresholdPerDomain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := &rule.Config{Global: rule.Defaults, Domains: map[string]rule.Thresholds{"example.org": {"send_volume": 10}}}
		e := newEngine(cfg, nil)
		var incs []incident.Incident
		for i := range 9 {
			_, incs = e.Process(send("bulk@example.org", 2), incs)
			if len(incs) != 0 {
				t.Fatalf("incident after %d messages; threshold is 10", i+1)
			}
			time.Sleep(time.Minute)
		}
		_, incs = e.Process(send("bulk@example.org", 2), incs)
		if len(incs) != 1 || incs[0].Rule != incident.SendVolume || incs[0].Messages24h != 10 || incs[0].Recipients24h != 20 {
			t.Fatalf("after 10 messages: %+v; want send_volume with 10 messages, 20 recipients", incs)
		}
		other := &event.Event{Kind: event.KindSend, Time: time.Now().UTC(), User: "x@other.net", Domain: "other.net", IP: gb, Recipients: 1}
		for range 20 {
			if _, got := e.Process(other, nil); len(got) != 0 {
				t.Fatal("other.net uses the global threshold of 500; got an incident after 20")
			}
		}
	})
}

func TestReplayIsDeterministic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var evs []*event.Event
		for _, ip := range []netip.Addr{gb, us, au, gb} {
			evs = append(evs, login("bob@example.org", ip, true))
			time.Sleep(10 * time.Minute)
		}
		run := func() []incident.Incident {
			e := newEngine(&rule.Config{Global: rule.Defaults}, nil)
			var incs []incident.Incident
			for _, ev := range evs {
				_, incs = e.Process(ev, incs)
			}
			return incs
		}
		a, b := run(), run()
		if len(a) != 3 || len(b) != 3 {
			t.Fatalf("incident updates = %d, %d; want 3 each", len(a), len(b))
		}
		for i := range a {
			if a[i].ID != b[i].ID || a[i].Version != b[i].Version || a[i].ID != a[0].ID {
				t.Errorf("update %d: %s v%d vs %s v%d; want one id and equal versions", i, a[i].ID, a[i].Version, b[i].ID, b[i].Version)
			}
		}
	})
}

func TestSeedContinuesIncident(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now().UTC().Add(-2 * time.Hour)
		e := newEngine(&rule.Config{Global: rule.Defaults}, nil)
		e.Seed(incident.Incident{Rule: incident.MultiCountry, User: "carol@example.org", WindowStart: start, Version: 7})
		e.Process(login("carol@example.org", gb, true), nil)
		_, incs := e.Process(login("carol@example.org", us, true), nil)
		if len(incs) != 1 || !incs[0].WindowStart.Equal(start) || incs[0].Version != 8 {
			t.Fatalf("after seeding: %+v; want window start %v, version 8", incs, start)
		}
	})
}

func TestEvictForgetsIdleUsers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(&rule.Config{Global: rule.Defaults}, nil)
		for _, u := range []string{"a@x", "b@x", "c@x"} {
			e.Process(send(u, 1), nil)
		}
		time.Sleep(12 * time.Hour)
		e.Process(send("d@x", 1), nil)
		if n := e.Evict(); n != 4 {
			t.Fatalf("Evict after 12h = %d users; want 4", n)
		}
		time.Sleep(13 * time.Hour)
		e.Process(send("d@x", 1), nil)
		if n := e.Evict(); n != 1 {
			t.Fatalf("Evict after 25h = %d users; want 1 (only d@x is active)", n)
		}
	})
}

// The same 300 sends posted twice, the second time the next morning, give one send_volume incident with
// messages_24h = 300 (what ClickHouse holds with FINAL), not 600; a replayed login does not double the login count.
func TestReplayedEventsCountedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := &rule.Config{Global: rule.Thresholds{"multi_country": 2, "send_volume": 400}}
		e := newEngine(cfg, nil)
		var evs []*event.Event
		for range 300 {
			evs = append(evs, send("dave@example.org", 1))
			time.Sleep(time.Second)
		}
		l := login("dave@example.org", gb, true)
		evs = append(evs, l)
		var incs []incident.Incident
		for _, ev := range evs {
			_, incs = e.Process(ev, incs)
		}
		time.Sleep(10 * time.Hour)
		e.Process(login("dave@example.org", us, true), nil) // the newest event is now 10 h later
		for _, ev := range evs {
			_, incs = e.Process(ev, incs)
		}
		for _, inc := range incs {
			if inc.Rule == incident.SendVolume || inc.Messages24h != 300 {
				t.Fatalf("incident update after 300 sends posted twice (send_volume threshold 400): %s messages_24h=%d; want no send_volume and 300 messages", inc.Rule, inc.Messages24h)
			}
		}
		u := e.users["dave@example.org"]
		if m, _ := u.Sent(); m != 300 {
			t.Errorf("messages in the window = %d; want 300", m)
		}
		if cs := u.Countries(); len(cs) != 2 || cs[0].Logins != 1 {
			t.Errorf("countries = %+v; want GB with 1 login and US", cs)
		}
	})
}

// An address-keyed incident sharing a user-keyed rule's name is not seeded as a user (its user is empty).
func TestSeedIgnoresAddressIncidents(t *testing.T) {
	e := newEngine(&rule.Config{Global: rule.Defaults}, nil)
	e.Seed(incident.Incident{Rule: incident.MultiCountry, WindowStart: time.Now(), Version: 3, Addr: &incident.Addr{Key: "203.0.113.9"}})
	if n := e.Users(); n != 0 {
		t.Fatalf("users after seeding an address incident = %d; want 0", n)
	}
}
