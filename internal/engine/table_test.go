package engine

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/rule"
	"github.com/vigil-ids/vigil/internal/window"
)

// "send_volume=off" for a domain silences that rule there only: its other rules and other domains still fire.
func TestRuleOffPerDomain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		domains, err := rule.ParseDomains("example.org:send_volume=off")
		if err != nil {
			t.Fatal(err)
		}
		cfg := &rule.Config{Global: rule.Thresholds{"multi_country": 2, "send_volume": 3}, Domains: domains}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Validate() = %v", err)
		}
		e := newEngine(cfg, nil)
		var incs []incident.Incident
		for range 5 {
			_, incs = e.Process(send("bulk@example.org", 1), incs)
			time.Sleep(time.Second) // distinct event ids
		}
		if len(incs) != 0 {
			t.Fatalf("5 sends with send_volume off for example.org gave %+v; want none", incs)
		}
		_, incs = e.Process(login("bulk@example.org", gb, true), incs)
		_, incs = e.Process(login("bulk@example.org", us, true), incs)
		if len(incs) != 1 || incs[0].Rule != incident.MultiCountry {
			t.Fatalf("GB + US logins with send_volume off = %+v; want one multi_country incident", incs)
		}
		incs = incs[:0]
		for range 3 {
			ev := send("bulk@other.example", 1)
			ev.Domain = "other.example"
			ev.ID = event.ContentID(ev)
			_, incs = e.Process(ev, incs)
			time.Sleep(time.Second)
		}
		if len(incs) != 1 || incs[0].Rule != incident.SendVolume {
			t.Fatalf("3 sends in other.example = %+v; want one send_volume incident (threshold 3)", incs)
		}
	})
}

// loginCount is a rule added only in this test: it fires at threshold logins in 24 h.
type loginCount struct{}

func (loginCount) Name() incident.Rule { return "login_count" }
func (loginCount) Key() rule.KeyKind   { return rule.KeyUser }
func (loginCount) Level() rule.Level   { return rule.Level{Default: 3, Min: 1} }
func (loginCount) On(k event.Kind) rule.Trigger {
	if k == event.KindLogin {
		return rule.Open
	}
	return rule.Ignore
}
func (loginCount) Fires(w *window.User, n int) bool {
	logins := 0
	for _, c := range w.Countries() {
		logins += c.Logins
	}
	return logins >= n
}
func (loginCount) Evidence(inc incident.Incident, _ *window.User) incident.Incident {
	inc.Countries = []string{"evidence"}
	return inc
}

// addrRule is keyed on the client address: an engine of user windows must never evaluate it.
type addrRule struct{ t *testing.T }

func (addrRule) Name() incident.Rule                                              { return "addr_rule" }
func (addrRule) Key() rule.KeyKind                                                { return rule.KeyAddress }
func (addrRule) Level() rule.Level                                                { return rule.Level{Default: 1, Min: 1} }
func (addrRule) On(event.Kind) rule.Trigger                                       { return rule.Open }
func (addrRule) Evidence(inc incident.Incident, _ *window.User) incident.Incident { return inc }
func (r addrRule) Fires(*window.User, int) bool {
	r.t.Errorf("address-keyed rule evaluated on a user window")
	return true
}

// A rule added to the table is run, seeded and evicted by the engine with no engine change; a rule keyed on an
// address is skipped by engines of user windows, and its incidents are not seeded onto users.
func TestAddedRulesFromTable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(&rule.Config{Global: rule.Defaults}, nil)
		e.setRules((&rule.Config{Global: rule.Thresholds{"login_count": 2}}).Compile(append(rule.All(), loginCount{}, addrRule{t})))
		var incs []incident.Incident
		_, incs = e.Process(login("carol@example.org", gb, true), incs)
		time.Sleep(time.Second)
		_, incs = e.Process(login("carol@example.org", gb, true), incs)
		if len(incs) != 1 || incs[0].Rule != "login_count" || incs[0].Version != 1 || incs[0].Countries[0] != "evidence" {
			t.Fatalf("two logins with login_count=2 = %+v; want one login_count incident, version 1, with its evidence", incs)
		}
		e.Seed(incident.Incident{Rule: "addr_rule", User: "81.2.69.142", WindowStart: incs[0].WindowStart, Version: 9})
		if e.Users() != 1 {
			t.Errorf("Users() after seeding an address-keyed incident = %d; want 1 (not seeded onto a user)", e.Users())
		}
		e.Seed(incident.Incident{Rule: "login_count", User: "dan@example.org", WindowStart: incs[0].WindowStart, Version: 4})
		if got := e.Evict(); got != 2 {
			t.Errorf("Evict() with dan's login_count incident seeded = %d users; want 2 (kept while it is open)", got)
		}
	})
}
