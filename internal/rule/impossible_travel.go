package rule

import (
	"net/netip"
	"slices"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/window"
)

// ImpossibleTravel fires when a user's newest successful untrusted login and the located one before it (within
// 24 hours) are more than window.HopMinKm apart and imply a speed above threshold km/h (default 1,000: faster than
// an airliner; Datadog's anchor is > 500 km at > 1,000 km/h). Distance is the great-circle distance minus both
// locations' accuracy radii, so an imprecise location makes a hop shorter, never faster. It needs a City database;
// with only a Country database no login is placed and the rule never fires.
//
// Logins open its incidents (one per user and 24-hour window; a later impossible hop in the window updates it with
// the newer hop); sends only add evidence (messages in 24 h) to an open one.
type ImpossibleTravel struct{}

// Name implements Rule.
func (ImpossibleTravel) Name() incident.Rule { return incident.ImpossibleTravel }

// Key implements Rule.
func (ImpossibleTravel) Key() KeyKind { return KeyUser }

// Level implements Rule: the speed in km/h the least speed of a hop must exceed.
func (ImpossibleTravel) Level() Level { return Level{Default: 1000, Min: window.HopMinKmh} }

// On implements Rule.
func (ImpossibleTravel) On(k event.Kind) Trigger {
	switch k {
	case event.KindLogin:
		return Open
	case event.KindSend:
		return Evidence
	default:
		return Ignore
	}
}

// Fires implements Rule: the hop ended by the newest located login is longer than window.HopMinKm and faster than
// threshold km/h (both rounded down to whole units).
func (ImpossibleTravel) Fires(w *window.User, threshold int) bool {
	h := w.Hop()
	return h != nil && h.LeastKm > window.HopMinKm && h.SpeedKmh > threshold
}

// Evidence implements Rule: the two logins with their locations, the distance and the speed; countries and
// addresses are those of the two logins, FirstSeen the first of them.
func (ImpossibleTravel) Evidence(inc incident.Incident, w *window.User) incident.Incident {
	userEvidence(&inc, w)
	h := w.Hop()
	if h == nil {
		return inc
	}
	login := func(f window.Fix) incident.TravelLogin {
		ip := "" // the window folded the address away (more than window.MaxAddrs addresses)
		if f.IP.IsValid() {
			ip = f.IP.String()
		}
		return incident.TravelLogin{Time: f.Time, IP: ip, Country: f.Country, City: f.City, Lat: f.Lat, Lon: f.Lon, RadiusKm: f.RadiusKm}
	}
	inc.Travel = &incident.Travel{
		From: login(h.From), To: login(h.To),
		DistanceKm: h.DistanceKm, LeastKm: h.LeastKm, Seconds: h.Seconds, SpeedKmh: h.SpeedKmh,
	}
	inc.Detail = nil // the detail column holds the two logins (inc.Travel)
	inc.Countries = slices.Compact(slices.Sorted(slices.Values([]string{h.From.Country, h.To.Country})))
	addrs := []netip.Addr{h.From.IP, h.To.IP}
	slices.SortFunc(addrs, netip.Addr.Compare)
	inc.IPs = nil
	for _, a := range slices.Compact(addrs) {
		if a.IsValid() {
			inc.IPs = append(inc.IPs, a.String())
		}
	}
	inc.FirstSeen = h.From.Time
	return inc
}
