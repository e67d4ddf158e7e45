package rule

import (
	"net/netip"
	"slices"

	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/window"
)

// userEvidence fills what every user-keyed incident carries: the user's countries, addresses, logins and sends in
// the window. FirstSeen is the oldest login, or zero; the rule may override it.
func userEvidence(inc *incident.Incident, w *window.User) {
	msgs, rcpts := w.Sent()
	inc.Messages24h, inc.Recipients24h = uint32(msgs), uint32(rcpts)
	for _, c := range w.Countries() {
		ips := make([]string, len(c.IPs))
		for i, ip := range c.IPs {
			ips[i] = ip.String()
		}
		inc.Countries = append(inc.Countries, c.Country)
		inc.IPs = append(inc.IPs, ips...)
		inc.Detail = append(inc.Detail, incident.Country{Country: c.Country, IPs: ips, FirstSeen: c.First, LastSeen: c.Last, Logins: c.Logins})
		inc.Logins += uint32(c.Logins)
		if inc.FirstSeen.IsZero() || c.First.Before(inc.FirstSeen) {
			inc.FirstSeen = c.First
		}
	}
	slices.SortFunc(inc.IPs, func(a, b string) int {
		return netip.MustParseAddr(a).Compare(netip.MustParseAddr(b))
	})
}
