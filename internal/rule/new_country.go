package rule

import (
	"slices"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/window"
)

// NewCountry fires for a successful untrusted login from a country the user has not used before, once the user's
// learning period is over: the earlier of window.LearnPeriod (14 days) after the first login or N logins (the
// threshold, default 10 as in Entra ID); users still learning raise nothing. A country stays familiar while it is
// used at least every window.HistoryTTL (90 days). The history outlives the 24-hour window (see window.Learn) and
// is rebuilt from ClickHouse after a restart. Logins open its incidents; nothing else is evaluated.
type NewCountry struct{}

// Name implements Rule.
func (NewCountry) Name() incident.Rule { return "new_country" }

// Key implements Rule.
func (NewCountry) Key() KeyKind { return KeyUser }

// Level implements Rule: the logins of the learning period.
func (NewCountry) Level() Level {
	return Level{Default: window.LearnLogins, Min: 1, Max: window.MaxLearnLogins}
}

// On implements Rule.
func (NewCountry) On(k event.Kind) Trigger {
	if k == event.KindLogin {
		return Open
	}
	return Ignore
}

// Fires implements Rule: the login just counted came from a new country (the engine gave the threshold to
// window.Learn).
func (NewCountry) Fires(w *window.User, _ int) bool { return w.NewCountry() }

// Evidence implements Rule: the new countries with their addresses and logins in the window, and in Detail every
// country of the history (familiar ones with the day they were last used); FirstSeen is the oldest login from a
// new country.
func (NewCountry) Evidence(inc incident.Incident, w *window.User) incident.Incident {
	hist, _, _ := w.History(w.Newest())
	recent := w.Countries()
	for _, h := range hist {
		i := slices.IndexFunc(recent, func(c window.Country) bool { return c.Country == h.Country })
		if !h.New || i < 0 {
			inc.Detail = append(inc.Detail, incident.Country{Country: h.Country, IPs: []string{}, LastSeen: h.LastUsed})
			continue
		}
		c := recent[i]
		ips := make([]string, len(c.IPs))
		for k, ip := range c.IPs {
			ips[k] = ip.String()
		}
		inc.Countries = append(inc.Countries, c.Country)
		inc.IPs = append(inc.IPs, ips...)
		inc.Logins += uint32(c.Logins)
		inc.Detail = append(inc.Detail, incident.Country{Country: c.Country, IPs: ips, FirstSeen: c.First, LastSeen: c.Last, Logins: c.Logins})
		if inc.FirstSeen.IsZero() || c.First.Before(inc.FirstSeen) {
			inc.FirstSeen = c.First
		}
	}
	slices.Sort(inc.IPs)
	msgs, rcpts := w.Sent()
	inc.Messages24h, inc.Recipients24h = uint32(msgs), uint32(rcpts)
	return inc
}
