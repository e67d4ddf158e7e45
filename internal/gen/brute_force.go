package gen

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/rule"
	"github.com/vigil-ids/vigil/internal/window"
)

// The brute_force profiles.
const (
	BruteForced Profile = "brute_forced" // an attacker guesses passwords: many distinct ones, or fast
	StaleDevice Profile = "stale_device" // a phone retries one old password all day from the user's address
)

// addBruteForce appends the brute-forced users and the stale-password devices. Half of each come with Dovecot's
// pwhash, half as log-sourced failures without it.
func (d *Day) addBruteForce(o Options, g *geoPool, start time.Time, user func(i int) (name, domain, home string, homeIP netip.Addr)) {
	r := g.rnd
	for k := range o.BruteForced {
		name, domain, home, homeIP := user(k)
		d.Profiles[name] = BruteForced
		d.Expected[name] = append(d.Expected[name], "brute_force")
		d.homeLogins(name, domain, homeIP, start, r.IntN(4)+1)
		attacker := g.isolated(g.foreign(home)) // a /24 of its own: the address half sees only these guesses
		at := start.Add(time.Duration((0.2 + 0.6*r.Float64()) * float64(24*time.Hour)))
		hashed := k%2 == 0
		// 20 to 29 guesses: far over the per-user level, under the address half's 30 distinct attempts (the
		// address-keyed brute forcer of password_spray.go covers that half).
		var guesses []int64 // Unix seconds of the hashed guesses
		for range 20 + r.IntN(10) {
			e := event.Event{Kind: event.KindLogin, Time: at, User: name, Domain: domain, IP: attacker, Service: "imap", Source: "mx1." + domain}
			if hashed { // a dictionary: every guess a new password, a few seconds apart
				guesses = append(guesses, at.Unix())
				e.PWHash = fmt.Sprintf("%08x", r.Uint32())
				at = at.Add(time.Duration(2+r.IntN(30)) * time.Second)
			} else { // from the log: no hash, but fast (Dovecot's penalty keeps it to a few seconds per try)
				at = at.Add(time.Duration(2+r.IntN(8)) * time.Second)
			}
			d.add(e)
		}
		// A dictionary that happens to try window.FastSpan's worth of rule.FastAttempts passwords is the address
		// half's too (hashless guesses count once a minute: never that fast against one user).
		if fastGuesses(guesses) {
			d.Expected[attacker.String()] = []incident.Rule{ruleBruteForce}
			d.Profiles[attacker.String()] = BruteForcer
		}
	}
	for k := range o.StaleDevices {
		name, domain, _, homeIP := user(o.BruteForced + k)
		d.Profiles[name] = StaleDevice
		d.homeLogins(name, domain, homeIP, start, r.IntN(6)+1)
		pw := ""
		if k%2 == 0 {
			pw = fmt.Sprintf("%08x", r.Uint32())
		}
		every := time.Duration(1+r.IntN(15)) * time.Minute // the client's polling interval
		for at := start.Add(time.Duration(r.IntN(int(every/time.Second))) * time.Second); at.Before(start.Add(24*time.Hour - time.Minute)); at = at.Add(every) {
			d.add(event.Event{Kind: event.KindLogin, Time: at, User: name, Domain: domain, IP: homeIP, Service: "imap", PWHash: pw, Source: "mx1." + domain})
		}
	}
}

// fastGuesses reports whether rule.FastAttempts distinct guesses (times in Unix seconds, ordered) were first seen
// within window.FastSpan: less than its length from the first to the last.
func fastGuesses(ts []int64) bool {
	for i := 0; i+rule.FastAttempts-1 < len(ts); i++ {
		if ts[i+rule.FastAttempts-1]-ts[i] < int64(window.FastSpan/time.Second) {
			return true
		}
	}
	return false
}

// homeLogins adds n successful logins from the home address during the day.
func (d *Day) homeLogins(name, domain string, ip netip.Addr, start time.Time, n int) {
	for i := range n {
		at := start.Add(time.Duration(i+1) * 24 * time.Hour / time.Duration(n+1))
		d.add(event.Event{Kind: event.KindLogin, Time: at, User: name, Domain: domain, IP: ip, Service: "imap", Success: true, Source: "mx1." + domain})
	}
}
