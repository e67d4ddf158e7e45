package gen

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
)

// Profiles of the address-keyed scenarios.
const (
	SprayVictim Profile = "spray_victim" // a target of the sprayer whose password it guessed
	OfficeUser  Profile = "office"       // logs in through a shared office address where some colleagues mistype
	Sprayer     Profile = "sprayer"      // an attacking address (a key of Profiles and Expected, not a user)
	BruteForcer Profile = "brute_forcer" // an attacking address
)

// genUser is what the address scenarios need to know of a generated user.
type genUser struct {
	user, domain, home string
	homeIP             netip.Addr
	profile            Profile
}

// Address-keyed incidents are expected under their key (the address), not a user.
var (
	ruleSpray      = incident.Rule("password_spray")
	ruleBruteForce = incident.Rule("brute_force")
)

// addressAttacks adds the address-keyed scenarios to the day: a password sprayer (one password against each of 40
// users within half an hour) that then logs in to one of them; an address brute-forcing 8 users with 5 passwords
// each over hours; devices retrying one stale password from their user's home every 5 minutes all day, with and
// without Dovecot's pwhash; and an office address shared by 60 users of whom 22 mistype once. Only the sprayer
// and the brute-forcer raise incidents (keyed on their address), plus the victim's own multi_country.
func (d *Day) addressAttacks(g *geoPool, o Options, start time.Time, users []genUser) {
	r := g.rnd
	if len(users) < 200 { // too few ordinary users to draw 52 distinct ones
		return
	}
	at := func(from, to float64) time.Time {
		return start.Add(time.Duration((from + r.Float64()*(to-from)) * float64(24*time.Hour-time.Minute)))
	}
	fail := func(u genUser, t time.Time, ip netip.Addr, svc, pwhash string) {
		d.add(event.Event{Kind: event.KindLogin, Time: t, User: u.user, Domain: u.domain, IP: ip, Service: svc, PWHash: pwhash, Source: "mx1." + u.domain})
	}
	// Users not generated as anything special, drawn without repetition.
	var pool []int
	for i, u := range users {
		if u.profile == Home {
			pool = append(pool, i)
		}
	}
	draw := func(ok func(genUser) bool) genUser {
		for {
			k := r.IntN(len(pool))
			if i := pool[k]; ok(users[i]) {
				pool[k] = pool[len(pool)-1]
				pool = pool[:len(pool)-1]
				return users[i]
			}
		}
	}
	anyone := func(genUser) bool { return true }
	untrusted := func(ip netip.Addr) bool {
		for _, t := range d.Trusted {
			if t.Prefix.Contains(ip) {
				return false
			}
		}
		return true
	}

	// The sprayer, abroad for its victim.
	victim := draw(anyone)
	sprayer := g.isolated(g.foreign(victim.home)) // a /24 of its own: only its failures there
	for !untrusted(sprayer) {
		sprayer = g.isolated(g.foreign(victim.home))
	}
	d.Expected[sprayer.String()] = []incident.Rule{ruleSpray}
	d.Profiles[sprayer.String()] = Sprayer
	d.Expected[victim.user] = []incident.Rule{incident.MultiCountry}
	d.Profiles[victim.user] = SprayVictim
	t := at(0.5, 0.55)
	targets := []genUser{victim}
	for range 39 {
		targets = append(targets, draw(anyone))
	}
	r.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
	for _, u := range targets {
		if u.user == victim.user {
			continue // the guessed password works at the first try
		}
		fail(u, t, sprayer, "imap", fmt.Sprintf("%03x", r.IntN(4096)))
		t = t.Add(time.Duration(20+r.IntN(40)) * time.Second)
	}
	d.add(event.Event{Kind: event.KindLogin, Time: t.Add(10 * time.Minute), User: victim.user, Domain: victim.domain, IP: sprayer, Service: "imap", Success: true, Source: "mx1." + victim.domain})

	// The brute-forcer: 5 passwords for each of 8 users, hours apart.
	forcer := g.isolated(g.others[r.IntN(len(g.others))])
	for !untrusted(forcer) || forcer == sprayer {
		forcer = g.isolated(g.others[r.IntN(len(g.others))])
	}
	d.Expected[forcer.String()] = []incident.Rule{ruleBruteForce}
	d.Profiles[forcer.String()] = BruteForcer
	for range 8 {
		u := draw(anyone)
		first := r.IntN(4096)
		for k := range 5 {
			fail(u, at(0.2, 0.6), forcer, pick(r, "imap", "submission"), fmt.Sprintf("%03x", (first+k*7)%4096))
		}
	}

	// Stale devices: never an incident, with the hash or without it.
	for k := range max(4, o.Users/1000) {
		u := draw(anyone)
		d.Profiles[u.user] = StaleDevice
		pwhash := ""
		if k%2 == 0 {
			pwhash = fmt.Sprintf("%03x", r.IntN(4096))
		}
		for t := start.Add(time.Duration(r.IntN(300)) * time.Second); t.Before(start.Add(24*time.Hour - time.Minute)); t = t.Add(5 * time.Minute) {
			fail(u, t, u.homeIP, "imap", pwhash)
		}
	}

	// The office: 60 users of one country behind one address, 22 of whom mistype once.
	cc := g.homes[0]
	eligible := 0
	for _, i := range pool {
		if users[i].home == cc {
			eligible++
		}
	}
	if eligible < 60 {
		return
	}
	office := g.isolated(cc)
	for !untrusted(office) || office == sprayer || office == forcer {
		office = g.isolated(cc)
	}
	for k := range 60 {
		u := draw(func(u genUser) bool { return u.home == cc })
		d.Profiles[u.user] = OfficeUser
		for range 2 {
			d.add(event.Event{Kind: event.KindLogin, Time: at(0, 1), User: u.user, Domain: u.domain, IP: office, Service: "imap", Success: true, Source: "mx1." + u.domain})
		}
		if k < 22 {
			fail(u, at(0, 1), office, "imap", fmt.Sprintf("%03x", r.IntN(4096)))
		}
	}
}
