package gen

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/window"
)

// Profiles of the impossible_travel scenarios, generated only with City data (Options.Locate).
const (
	ImpossibleTraveller Profile = "impossible" // home, then a login from another continent within the hour
	Flyer               Profile = "flyer"      // home, then a flight at airliner speed, then logins at the destination
)

// Locator places an address for the generator, like a City database (geo.DB.Locate).
type Locator func(netip.Addr) (window.Place, bool)

// nearKm is how close to the user's home address a mobile user's carrier addresses are drawn with City data:
// carriers' gateways sit in the subscriber's region, not anywhere in the country.
const nearKm = 300

// near returns an address in country cc close to at when City data is given, else any address in cc. It draws at
// most 40 candidates; when none is within nearKm, or at itself is not placed, it stays in at's /24.
func (g *geoPool) near(cc string, at netip.Addr, o *Options) netip.Addr {
	if o.Locate == nil {
		return g.addr(cc)
	}
	a := g.addr(cc)
	home, ok := o.Locate(at)
	if !ok { // the home address is not placed: stay in its /24, where the carrier's other gateways are
		return randomIn(g.rnd, netip.PrefixFrom(at, 24))
	}
	for k := range 40 {
		if k > 0 {
			a = g.addr(cc)
		}
		if p, found := o.Locate(a); found && greatCircleKm(home, p) <= nearKm {
			return a
		}
	}
	return randomIn(g.rnd, netip.PrefixFrom(at, 24)) // nothing near among the draws: the home address's /24
}

// travellers adds the impossible travellers and the flyers (max(2, Users/1000) of each) as users numbered from base,
// after the day's others, then derives the impossible_travel ground truth of every user.
func (g *geoPool) travellers(d *Day, o *Options, start time.Time, base int) error {
	r := g.rnd
	if o.TravelKmh == 0 {
		o.TravelKmh = 1000
	}
	n := max(2, o.Users/1000)
	at := func(from, to float64) time.Time {
		return start.Add(time.Duration((from + r.Float64()*(to-from)) * float64(24*time.Hour-time.Minute)))
	}
	for i := range 2 * n {
		domain := o.Domains[i%len(o.Domains)]
		user := fmt.Sprintf("user%05d@%s", base+i, domain)
		home := g.homes[r.IntN(len(g.homes))]
		homeIP, homeAt, ok := g.placed(home, o)
		if !ok {
			return fmt.Errorf("gen: no address of %s is placed by the City data", home)
		}
		login := func(t time.Time, ip netip.Addr) {
			d.add(event.Event{Kind: event.KindLogin, Time: t, User: user, Domain: domain, IP: ip, Service: pick(r, "imap", "webmail", "activesync"), Success: true, Source: "mx1." + domain})
		}
		if i < n { // the account is used from far away while its owner is at home
			d.Profiles[user] = ImpossibleTraveller
			far, _, err := g.farFrom(home, homeAt, 3000, 20000, o)
			if err != nil {
				return err
			}
			for range 4 + r.IntN(8) {
				login(at(0, 1), homeIP)
			}
			t := at(0.3, 0.9)
			login(t.Add(-time.Duration(10+r.IntN(30))*time.Minute), homeIP) // the owner, shortly before
			for k := range 2 + r.IntN(3) {
				login(t.Add(time.Duration(k)*time.Duration(5+r.IntN(20))*time.Minute), far)
			}
			d.Expected[user] = append(d.Expected[user], incident.MultiCountry)
			continue
		}
		// A flyer logs in at home, flies (at 700 km/h plus half an hour at the airports) and logs in on arrival.
		d.Profiles[user] = Flyer
		dest, km, err := g.farFrom(home, homeAt, 1500, 9000, o)
		if err != nil {
			return err
		}
		dep := at(0.05, 0.25)
		arr := dep.Add(time.Duration(km/700*float64(time.Hour)) + 30*time.Minute)
		for range 3 + r.IntN(5) {
			login(start.Add(time.Duration(r.Float64()*float64(dep.Sub(start)))), homeIP)
		}
		login(dep, homeIP) // last check of mail at the gate
		for range 3 + r.IntN(5) {
			login(arr.Add(time.Duration(r.Float64()*float64(o.End.Add(-time.Minute).Sub(arr)))), dest)
		}
		d.Expected[user] = append(d.Expected[user], incident.MultiCountry) // two countries, untrusted: multi_country's case
	}
	slices.SortStableFunc(d.Events, func(a, b event.Event) int { return a.Time.Compare(b.Time) })
	d.expectTravel(o)
	return nil
}

// placed draws an address of cc that the City data places.
func (g *geoPool) placed(cc string, o *Options) (netip.Addr, window.Place, bool) {
	for range 100 {
		a := g.addr(cc)
		if p, ok := o.Locate(a); ok && len(p.Country) == 2 {
			return a, p, true
		}
	}
	return netip.Addr{}, window.Place{}, false
}

// farFrom draws a placed address outside home whose least distance (both radii off) from at is between minKm and
// maxKm; it returns the address and the precise distance.
func (g *geoPool) farFrom(home string, at window.Place, minKm, maxKm float64, o *Options) (netip.Addr, float64, error) {
	for range 2000 {
		a, p, ok := g.placed(g.foreign(home), o)
		if !ok {
			continue
		}
		km := greatCircleKm(at, p)
		if least := km - float64(at.RadiusKm+p.RadiusKm); least >= minKm && km <= maxKm {
			return a, km, nil
		}
	}
	return netip.Addr{}, 0, errors.New("gen: the City data places no foreign address far enough from home")
}

// expectTravel derives who impossible_travel flags from the day itself: per user, successful logins outside the
// trusted networks, placed by the City data, in time order; a hop fires when its least distance (both accuracy
// radii off) is more than 500 km and its least speed more than o.TravelKmh, within 24 hours.
func (d *Day) expectTravel(o *Options) {
	trust := d.trustIndex()
	type fix struct {
		t int64
		p window.Place
	}
	last := map[string]fix{}
	seen := map[string]bool{}
	for i := range d.Events {
		e := &d.Events[i]
		if e.Kind != event.KindLogin || !e.Success || seen[e.ID] || trust.trusted(e) {
			continue
		}
		seen[e.ID] = true
		p, ok := o.Locate(e.IP)
		if !ok || len(p.Country) != 2 {
			continue
		}
		cur := fix{t: e.Time.Unix(), p: p}
		prev, had := last[e.User]
		last[e.User] = cur
		if !had || prev.t <= cur.t-86400 {
			continue
		}
		least := math.Max(greatCircleKm(prev.p, cur.p)-float64(prev.p.RadiusKm+cur.p.RadiusKm), 0)
		speed := least * 3600 / float64(max(cur.t-prev.t, 1))
		if int(least) > 500 && int(speed) > o.TravelKmh && !slices.Contains(d.Expected[e.User], incident.ImpossibleTravel) {
			d.Expected[e.User] = append(d.Expected[e.User], incident.ImpossibleTravel)
		}
	}
}

// greatCircleKm is the haversine distance between two places on a sphere of the Earth's mean radius.
func greatCircleKm(a, b window.Place) float64 {
	const rad, earth = math.Pi / 180, 6371.0088
	s := math.Pow(math.Sin((b.Lat-a.Lat)*rad/2), 2) + math.Cos(a.Lat*rad)*math.Cos(b.Lat*rad)*math.Pow(math.Sin((b.Lon-a.Lon)*rad/2), 2)
	return 2 * earth * math.Asin(math.Min(1, math.Sqrt(s)))
}
