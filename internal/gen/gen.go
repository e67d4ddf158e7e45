// Package gen generates a realistic day of mail events with known compromised accounts, for the demo and benchmarks.
package gen

import (
	"cmp"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
)

// Network is a range of addresses located in one country.
type Network struct {
	Prefix  netip.Prefix
	Country string
}

// Networks collects located networks, such as a GeoIP database's (geo.DB.Networks), for Generate.
func Networks(located iter.Seq2[netip.Prefix, string]) []Network {
	var nets []Network
	for p, cc := range located {
		nets = append(nets, Network{Prefix: p, Country: cc})
	}
	return nets
}

// Profile names the behaviour of a generated user.
type Profile string

// The profiles of generated users.
const (
	Home        Profile = "home"        // one or two addresses in the home country
	Mobile      Profile = "mobile"      // many carrier addresses in the home country
	Traveller   Profile = "traveller"   // home plus a foreign network marked as trusted
	Compromised Profile = "compromised" // home plus successful logins from abroad, and spam
	BulkSender  Profile = "bulk"        // a legitimate heavy sender above the send_volume threshold
)

// Options shapes the generated day.
type Options struct {
	Users         int       // default 3000
	Domains       []string  // default four example domains
	End           time.Time // end of the day; default now
	Seed          uint64    // same seed, same day
	Compromised   int       // default max(3, Users/500)
	BulkSenders   int       // default max(2, Users/1000)
	SendThreshold int       // the send_volume threshold the day is built around; default 500
	LoginsPerUser int       // average successful logins per ordinary user; default 12
	SendsPerUser  int       // average messages per ordinary user; default 6
	BruteForced   int       // users under password guessing; default max(2, Users/1000)
	StaleDevices  int       // users with a device retrying a stale password all day; default max(2, Users/500)
	NewCountries  int       // users past learning who log in from a new country; default max(2, Users/1000)
	Familiar      int       // users past learning back in a country they visited while learning; default the same
	Locate        Locator   // City data: adds the impossible_travel scenarios and truth (impossible_travel.go)
	TravelKmh     int       // the impossible_travel threshold the truth is derived with; default 1000
}

// Trusted is a network the generated day expects to be marked as safe.
type Trusted struct {
	Scope       string // global, domain, user
	Subject     string
	Prefix      netip.Prefix
	Description string
}

// Day is a generated day of events with its ground truth.
type Day struct {
	Events   []event.Event // ordered by time
	Trusted  []Trusted
	Profiles map[string]Profile
	Expected map[string][]incident.Rule // the incidents a correct detector raises, by user (by address for address-keyed rules)
}

// Generate builds a day from the given located networks (at least two countries with several networks each).
func Generate(o Options, networks []Network) (*Day, error) {
	o.setDefaults()
	g, err := newGeoPool(networks, rand.New(rand.NewPCG(o.Seed, 0x5eed)))
	if err != nil {
		return nil, err
	}
	d := &Day{Profiles: map[string]Profile{}, Expected: map[string][]incident.Rule{}}
	r := g.rnd
	start := o.End.Add(-24 * time.Hour)
	at := func(from, to float64) time.Time { // a time between fractions of the day
		return start.Add(time.Duration((from + r.Float64()*(to-from)) * float64(24*time.Hour-time.Minute)))
	}

	// A corporate VPN exit abroad, trusted for one domain, and a global trusted range for the company's own network.
	vpnDomain := o.Domains[0]
	vpnCountry := g.foreign(g.homes[0])
	vpn := g.subnet(vpnCountry)
	d.Trusted = append(d.Trusted, Trusted{Scope: "domain", Subject: vpnDomain, Prefix: vpn, Description: "corporate VPN exit (" + vpnCountry + ")"})

	var users []genUser // for the address scenarios (password_spray.go)
	for i := range o.Users {
		domain := o.Domains[i%len(o.Domains)]
		user := fmt.Sprintf("user%05d@%s", i, domain)
		home := g.homes[r.IntN(len(g.homes))]
		homeIP := g.addr(home)
		p := Home
		switch {
		case i < o.Compromised:
			p = Compromised
		case i < o.Compromised+o.BulkSenders:
			p = BulkSender
		case r.IntN(100) < 3:
			p = Traveller
		case r.IntN(100) < 20:
			p = Mobile
		}
		d.Profiles[user] = p
		users = append(users, genUser{user: user, domain: domain, home: home, homeIP: homeIP, profile: p})
		login := func(t time.Time, ip netip.Addr, ok bool, svc string) {
			d.add(event.Event{Kind: event.KindLogin, Time: t, User: user, Domain: domain, IP: ip, Service: svc, Success: ok, Source: "mx1." + domain})
		}
		send := func(t time.Time, ip netip.Addr, rcpts int) {
			d.add(event.Event{Kind: event.KindSend, Time: t, User: user, Domain: domain, IP: ip, Service: "submission", Recipients: rcpts, Size: int64(2000 + r.IntN(80000)), Source: "mx1." + domain})
		}
		n := 1 + r.IntN(2*o.LoginsPerUser)
		for range n {
			login(at(0, 1), homeIP, true, pick(r, "imap", "imap", "submission", "webmail", "activesync"))
		}
		for range r.IntN(2 * o.SendsPerUser) {
			send(at(0, 1), homeIP, 1+r.IntN(4))
		}
		if r.IntN(100) < 5 { // a mistyped password now and then, from anywhere: failures never count
			login(at(0, 1), g.addr(g.foreign(home)), false, "imap")
		}
		switch p {
		case Mobile:
			for range 5 + r.IntN(15) {
				login(at(0, 1), g.near(home, homeIP, &o), true, "activesync")
			}
		case Traveller:
			g.addr(vpnCountry) // drawn and discarded so that a seed keeps generating the same day
			var ip netip.Addr
			if domain == vpnDomain && r.IntN(2) == 0 {
				ip = randomIn(r, vpn) // through the domain's VPN exit
			} else { // a hotel or client site, marked as safe for this user
				abroad := g.foreign(home)
				pfx := g.subnet(abroad)
				ip = randomIn(r, pfx)
				d.Trusted = append(d.Trusted, Trusted{Scope: "user", Subject: user, Prefix: pfx, Description: "travel: client site in " + abroad})
			}
			for range 3 + r.IntN(10) {
				login(at(0.3, 1), ip, true, "imap")
			}
		case Compromised:
			d.Expected[user] = append(d.Expected[user], incident.MultiCountry)
			for range 1 + r.IntN(2) {
				attacker := g.addr(g.foreign(home))
				for vpn.Contains(attacker) {
					attacker = g.addr(g.foreign(home))
				}
				for range 2 + r.IntN(5) {
					login(at(0.6, 1), attacker, true, pick(r, "imap", "submission", "webmail"))
				}
			}
			if i%2 == 0 { // half of them are used for spam
				d.Expected[user] = append(d.Expected[user], incident.SendVolume)
				for range o.SendThreshold + r.IntN(o.SendThreshold) {
					send(at(0.7, 1), homeIP, 20+r.IntN(30))
				}
			}
		case BulkSender:
			d.Expected[user] = append(d.Expected[user], incident.SendVolume)
			for range o.SendThreshold + 100 + r.IntN(o.SendThreshold) {
				send(at(0, 1), homeIP, 1+r.IntN(3))
			}
		}
	}
	// The scenarios of the later rules, each in its own file, for users numbered after the ordinary ones.
	next := o.Users
	extra := func(int) (string, string, string, netip.Addr) {
		domain := o.Domains[next%len(o.Domains)]
		name := fmt.Sprintf("user%05d@%s", next, domain)
		next++
		home := g.homes[r.IntN(len(g.homes))]
		return name, domain, home, g.addr(home)
	}
	d.addBruteForce(o, g, start, extra)
	d.addNewCountry(o, g, start, extra)
	d.addressAttacks(g, o, start, users)
	slices.SortStableFunc(d.Events, func(a, b event.Event) int { return a.Time.Compare(b.Time) })
	if o.Locate != nil {
		if err := g.travellers(d, &o, start, next); err != nil {
			return nil, err
		}
	}
	d.expectNewCountries(g) // from every login of the day, the travellers' too
	return d, nil
}

func (d *Day) add(e event.Event) {
	e.Time = e.Time.UTC().Truncate(time.Millisecond)
	e.ID = event.ContentID(&e)
	d.Events = append(d.Events, e)
}

func (o *Options) setDefaults() {
	if o.Users == 0 {
		o.Users = 3000
	}
	if len(o.Domains) == 0 {
		o.Domains = []string{"example.org", "example.net", "mail.example.com", "shop.example"}
	}
	if o.End.IsZero() {
		o.End = time.Now()
	}
	if o.Compromised == 0 {
		o.Compromised = max(3, o.Users/500)
	}
	if o.BulkSenders == 0 {
		o.BulkSenders = max(2, o.Users/1000)
	}
	if o.SendThreshold == 0 {
		o.SendThreshold = 500
	}
	if o.LoginsPerUser == 0 {
		o.LoginsPerUser = 12
	}
	if o.SendsPerUser == 0 {
		o.SendsPerUser = 6
	}
	if o.BruteForced == 0 {
		o.BruteForced = max(2, o.Users/1000)
	}
	if o.StaleDevices == 0 {
		o.StaleDevices = max(2, o.Users/500)
	}
	if o.NewCountries == 0 {
		o.NewCountries = max(2, o.Users/1000)
	}
	if o.Familiar == 0 {
		o.Familiar = max(2, o.Users/1000)
	}
}

func pick(r *rand.Rand, s ...string) string { return s[r.IntN(len(s))] }

// geoPool draws addresses by country from located networks.
type geoPool struct {
	rnd     *rand.Rand
	located map[netip.Addr]string // every address addr drew, with its country
	used    map[netip.Prefix]bool // the /24 of every address and subnet drawn
	kept    map[netip.Prefix]bool // /24s reserved by isolated for one attacker: no other draw lands there
	byCC    map[string][]netip.Prefix
	homes   []string // the largest countries: where users live
	others  []string
}

func newGeoPool(networks []Network, r *rand.Rand) (*geoPool, error) {
	g := &geoPool{rnd: r, byCC: map[string][]netip.Prefix{}, located: map[netip.Addr]string{}, used: map[netip.Prefix]bool{}, kept: map[netip.Prefix]bool{}}
	for _, n := range networks {
		if n.Prefix.Addr().Is4() && n.Prefix.Bits() <= 24 && n.Prefix.Bits() >= 8 && len(n.Country) == 2 {
			g.byCC[n.Country] = append(g.byCC[n.Country], n.Prefix.Masked())
		}
	}
	ccs := make([]string, 0, len(g.byCC))
	for cc := range g.byCC {
		slices.SortFunc(g.byCC[cc], func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
		ccs = append(ccs, cc)
	}
	// Largest first, by number of networks; ties by code, so the same data gives the same day.
	slices.SortFunc(ccs, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(g.byCC[b]), len(g.byCC[a])), cmp.Compare(a, b))
	})
	if len(ccs) < 3 {
		return nil, errors.New("gen: the geolocation data needs IPv4 networks (/8-/24) in at least three countries")
	}
	n := min(8, len(ccs)-2)
	g.homes, g.others = ccs[:n], ccs[n:]
	return g, nil
}

// foreign returns a country other than home.
func (g *geoPool) foreign(home string) string {
	for {
		var cc string
		if g.rnd.IntN(3) == 0 || len(g.others) == 0 {
			cc = g.homes[g.rnd.IntN(len(g.homes))]
		} else {
			cc = g.others[g.rnd.IntN(min(len(g.others), 40))]
		}
		if cc != home {
			return cc
		}
	}
}

func (g *geoPool) addr(cc string) netip.Addr {
	ps := g.byCC[cc]
	ip := randomIn(g.rnd, ps[g.rnd.IntN(len(ps))])
	for k := 0; g.kept[slash24(ip)] && k < 1000; k++ { // another scenario's attacker has this /24 to itself
		ip = randomIn(g.rnd, ps[g.rnd.IntN(len(ps))])
	}
	g.located[ip] = cc
	g.used[slash24(ip)] = true
	return ip
}

// isolated returns an address of cc in a /24 no address drawn so far is in, and reserves that /24 so no later
// draw lands there: the address-keyed rules, which count a /24 as one key once a second address of it fails, see
// only this attacker's failures there, and the ground truth can be derived from what the attacker alone did. When
// the country has no free /24 left among many draws it falls back to an ordinary address.
func (g *geoPool) isolated(cc string) netip.Addr {
	ps := g.byCC[cc]
	for range 10000 {
		ip := randomIn(g.rnd, ps[g.rnd.IntN(len(ps))])
		if p := slash24(ip); !g.used[p] {
			g.used[p], g.kept[p] = true, true
			g.located[ip] = cc
			return ip
		}
	}
	return g.addr(cc)
}

func slash24(ip netip.Addr) netip.Prefix { return netip.PrefixFrom(ip, 24).Masked() }

// subnet returns a /24 (or the whole network when smaller) inside one of the country's networks.
func (g *geoPool) subnet(cc string) netip.Prefix {
	ps := g.byCC[cc]
	var s netip.Prefix
	for k := 0; k == 0 || g.kept[s] && k < 1000; k++ { // not in an attacker's reserved /24
		p := ps[g.rnd.IntN(len(ps))]
		s = p
		if p.Bits() < 24 {
			s = netip.PrefixFrom(randomIn(g.rnd, p), 24).Masked()
		}
	}
	g.used[s] = true
	return s
}

func randomIn(r *rand.Rand, p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := 32 - p.Bits()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	if host > 0 {
		v |= r.Uint32() & (1<<host - 1)
		if host >= 2 { // avoid network and broadcast addresses
			v = v&^3 | uint32(1+r.IntN(2))
		}
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// trustIndex is the day's trusted networks by scope and subject, so checking an event costs its own user's and
// domain's networks, not every user's (a day of a million users marks tens of thousands of networks as safe).
type trustIndex struct {
	global    []netip.Prefix
	bySubject map[[2]string][]netip.Prefix // {scope, subject}
}

// trustIndex indexes d.Trusted; the day must not add networks while the index is in use.
func (d *Day) trustIndex() *trustIndex {
	x := &trustIndex{bySubject: map[[2]string][]netip.Prefix{}}
	for _, t := range d.Trusted {
		if t.Scope == "global" {
			x.global = append(x.global, t.Prefix)
			continue
		}
		k := [2]string{t.Scope, t.Subject}
		x.bySubject[k] = append(x.bySubject[k], t.Prefix)
	}
	return x
}

// trusted reports whether e comes from a network the day marks as safe for its user.
func (x *trustIndex) trusted(e *event.Event) bool {
	for _, ps := range [...][]netip.Prefix{x.global, x.bySubject[[2]string{"domain", e.Domain}], x.bySubject[[2]string{"user", e.User}]} {
		for _, p := range ps {
			if p.Contains(e.IP) {
				return true
			}
		}
	}
	return false
}
