package rule

import (
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/window"
)

// BruteForceName names the brute_force rule; its user-keyed half counts failures against one user, this file's
// half counts them from one client address.
const BruteForceName incident.Rule = "brute_force"

// FastAttempts is the number of distinct password attempts from one key within window.FastSpan (2 minutes) that
// fires brute_force by address at once (Wazuh: 8 mismatches from one address in 120 s).
const FastAttempts = 10

// BruteForceAddr is the address-keyed half of brute_force: one client address (or its /24, /64) tried many
// passwords, across any users. What counts is distinct password attempts, not failures: with Dovecot's pwhash an
// attempt is one (user, hash) pair however often it is retried, so a device retrying one stale password all day
// is one attempt; without a hash (log-sourced failures) an attempt is one user per minute of event
// time, so a device retrying in a loop counts at most once a minute over all its services. It fires when either
//   - the distinct hashed attempts in 24 hours beyond the first against each user reach the threshold (wforce's
//     example: 90 distinct passwords per login in 24 h; here summed over the users tried from the address, so a
//     sprayer trying one password per user is password_spray's, not this), or
//   - FastAttempts distinct attempts, hashed or not, were first seen within 2 minutes (an attacker tries fast).
//
// Hashless failures never feed the 24-hour count: without a hash a slow attacker and a slowly polling stale device
// look alike. Failures from an address where the user logged in successfully in the window, and from trusted
// networks, do not count at all.
type BruteForceAddr struct{}

// Name implements AddrRule.
func (BruteForceAddr) Name() incident.Rule { return BruteForceName }

// Level implements AddrRule: distinct hashed password attempts in 24 hours.
func (BruteForceAddr) Level() Level { return Level{Default: 30, Min: 2} }

// Uses implements AddrRule.
func (BruteForceAddr) Uses() Use { return UseAttempts }

// ThresholdFromConfig implements AddrRule: the brute_force level configured by name is the user-keyed half's;
// only "off" for a domain applies here.
func (BruteForceAddr) ThresholdFromConfig() bool { return false }

// FiresAddr implements AddrRule.
func (BruteForceAddr) FiresAddr(w *window.Addr, threshold int) bool {
	if _, hashed := w.Attempts(); hashed >= threshold && w.Depth() >= threshold {
		return true
	}
	return w.FastAttempts() >= FastAttempts
}

// AddrEvidence implements AddrRule.
func (BruteForceAddr) AddrEvidence(inc incident.Incident, w *window.Addr) incident.Incident {
	addrEvidence(&inc, w)
	return inc
}
