package gen

import (
	"net/netip"
	"slices"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// The new_country profiles. Both have a history of the 14 days before the day: logins from home and, on one day
// well apart from them, from a country the user commutes to.
const (
	NewCountry Profile = "new_country" // after the learning period, logs in from a country never used before
	Familiar   Profile = "familiar"    // a traveller back in the country visited while learning: nothing to raise
)

// The learning period and TTL the ground truth assumes: new_country's defaults (window.LearnLogins,
// window.LearnPeriod, window.HistoryTTL).
const (
	learnLogins = 10
	learnPeriod = 14 * 24 * time.Hour
)

func (d *Day) addNewCountry(o Options, g *geoPool, start time.Time, user func(i int) (name, domain, home string, homeIP netip.Addr)) {
	r := g.rnd
	for k := range o.NewCountries + o.Familiar {
		name, domain, home, homeIP := user(k)
		visited := g.foreign(home)
		visitedIP := g.addr(visited)
		login := func(t time.Time, ip netip.Addr) {
			d.add(event.Event{Kind: event.KindLogin, Time: t, User: name, Domain: domain, IP: ip, Service: "imap", Success: true, Source: "mx1." + domain})
		}
		for day := 14; day >= 2; day-- {
			t := start.Add(-time.Duration(day)*24*time.Hour + time.Duration(8+r.IntN(10))*time.Hour)
			switch day {
			case 9, 7: // more than 24 h from the visit: no multi_country in the history
			case 8:
				login(t, visitedIP)
				login(t.Add(time.Hour), visitedIP)
			default:
				login(t, homeIP)
			}
		}
		if k < o.NewCountries {
			d.Profiles[name] = NewCountry
			abroad := g.foreign(home)
			for abroad == visited {
				abroad = g.foreign(home)
			}
			// Only from abroad today (a traveller or a stolen password used from there): new_country alone.
			login(start.Add(time.Duration((0.3+0.5*r.Float64())*float64(24*time.Hour))), g.addr(abroad))
		} else {
			d.Profiles[name] = Familiar
			at := start.Add(time.Duration((0.3 + 0.5*r.Float64()) * float64(24*time.Hour)))
			login(at, visitedIP)
			login(at.Add(time.Hour), g.addr(visited))
		}
	}
}

// expectNewCountries adds new_country to the ground truth of every user whose successful untrusted logins, in time
// order, reach a country not used during the learning period after it ended (ordinary users, too: ten logins end
// the learning, so a compromised account with ten home logins before the attacker's is a new_country as well).
// Events must be ordered by time.
func (d *Day) expectNewCountries(g *geoPool) {
	trust := d.trustIndex()
	type hist struct {
		first     time.Time
		n         int
		countries []string
		raised    bool
	}
	users := map[string]*hist{}
	for i := range d.Events {
		e := &d.Events[i]
		cc := g.located[e.IP]
		if e.Kind != event.KindLogin || !e.Success || cc == "" || trust.trusted(e) {
			continue
		}
		h := users[e.User]
		if h == nil {
			h = &hist{first: e.Time}
			users[e.User] = h
		}
		learned := h.n >= learnLogins || !e.Time.Before(h.first.Add(learnPeriod))
		if !learned {
			h.n++
		}
		if slices.Contains(h.countries, cc) {
			continue
		}
		h.countries = append(h.countries, cc)
		if learned && !h.raised {
			h.raised = true
			d.Expected[e.User] = append(d.Expected[e.User], "new_country")
		}
	}
}
