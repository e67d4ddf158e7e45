package decision

import (
	"testing"
	"time"
)

// Each state and filter field selects what its doc comment says; an address finds the networks containing it.
func TestStateAndFilter(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	mk := func(kind Kind, subject string, action Action, mut func(*Decision)) Decision {
		d := Decision{Kind: kind, Subject: subject, Action: action, CreatedBy: System, CreatedAt: now.Add(-time.Hour), IncidentID: "ab"}
		if action == Tarpit {
			d.Delay = 2
		}
		if mut != nil {
			mut(&d)
		}
		if err := d.Normalise(now); err != nil {
			t.Fatal(err)
		}
		return d
	}
	active := mk(User, "Alice@Example.org", HoldMail, nil)
	observed := mk(User, "bob@example.org", HoldMail, func(d *Decision) { d.Observe = true })
	lifted := mk(Network, "192.0.2.0/24", BlockLogin, func(d *Decision) { d.LiftedAt, d.LiftedBy = now, "root" })
	expired := mk(Network, "198.51.100.7", Tarpit, func(d *Decision) { d.ExpiresAt = now; d.IncidentID = "" })
	liftedExpired := mk(User, "carol@example.org", Kick, func(d *Decision) { d.ExpiresAt = now.Add(-time.Minute); d.LiftedAt = now.Add(-2 * time.Minute) })
	for d, want := range map[*Decision]State{&active: StateActive, &observed: StateObserved, &lifted: StateLifted, &expired: StateExpired, &liftedExpired: StateLifted} {
		if got := d.State(now); got != want {
			t.Errorf("%s %s: state %s; want %s", d.Subject, d.Action, got, want)
		}
	}
	all := []Decision{active, observed, lifted, expired, liftedExpired}
	for _, c := range []struct {
		name string
		f    Filter
		want []string
	}{
		{"every", Filter{}, []string{"alice@example.org", "bob@example.org", "192.0.2.0/24", "198.51.100.7/32", "carol@example.org"}},
		{"active", Filter{State: StateActive}, []string{"alice@example.org"}},
		{"observed", Filter{State: StateObserved}, []string{"bob@example.org"}},
		{"lifted", Filter{State: StateLifted}, []string{"192.0.2.0/24", "carol@example.org"}},
		{"expired", Filter{State: StateExpired}, []string{"198.51.100.7/32"}},
		{"kind", Filter{Kind: Network}, []string{"192.0.2.0/24", "198.51.100.7/32"}},
		{"action", Filter{Action: HoldMail}, []string{"alice@example.org", "bob@example.org"}},
		{"incident", Filter{IncidentID: "ab", Kind: Network}, []string{"192.0.2.0/24"}},
		{"user any case", Filter{Subject: " ALICE@example.org"}, []string{"alice@example.org"}},
		{"address in a network", Filter{Subject: "192.0.2.200"}, []string{"192.0.2.0/24"}},
		{"prefix, not canonical", Filter{Subject: "192.0.2.9/24"}, []string{"192.0.2.0/24"}},
		{"no match", Filter{Subject: "203.0.113.1"}, nil},
	} {
		var got []string
		for i := range all {
			if c.f.Match(&all[i], now) {
				got = append(got, all[i].Subject)
			}
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: %q; want %q", c.name, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: %q; want %q", c.name, got, c.want)
				break
			}
		}
	}
}
