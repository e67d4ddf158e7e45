package rule

import (
	"net/netip"
	"slices"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/window"
)

// FailedLogin is the kind the engine passes to On for a failed login from an untrusted address; event.KindLogin
// stands for successful logins only.
const FailedLogin event.Kind = "login_failed"

// BruteForceRate is the span in which unhashed failures count as fast (Wazuh's 8 mismatches in 120 s).
const BruteForceRate = 120 * time.Second

// BruteForce is the user-keyed half of brute_force: many failed logins against one user in 24 hours. With the
// threshold N (default 8, Wazuh's count), it fires when
//
//   - the failures that carry a password hash (Dovecot's pwhash) hold N distinct passwords: a device retrying one
//     stale password all day adds one, however often it polls; or
//   - the failures without a hash (log-sourced) from networks where the user did not log in successfully in the
//     window (the /24 or /64; the usual place of a stale device) reach N within BruteForceRate (fast), or come
//     from N distinct such networks (spread over a botnet).
//
// Trusted networks never count. Failed logins open its incidents; nothing else is evaluated.
type BruteForce struct{}

// Name implements Rule.
func (BruteForce) Name() incident.Rule { return "brute_force" }

// Key implements Rule.
func (BruteForce) Key() KeyKind { return KeyUser }

// Level implements Rule.
func (BruteForce) Level() Level { return Level{Default: 8, Min: 2, Max: window.MaxPairFailures} }

// On implements Rule.
func (BruteForce) On(k event.Kind) Trigger {
	if k == FailedLogin {
		return Open
	}
	return Ignore
}

// Fires implements Rule. It stops at the first condition met and allocates only the last n fast-failure times.
func (BruteForce) Fires(w *window.User, n int) bool {
	if w.FailureCount() < n {
		return false
	}
	var pwBuf [16]uint32
	var netBuf [16]netip.Prefix
	pws, nets := pwBuf[:0], netBuf[:0]
	recent := make([]time.Time, 0, n) // the newest n-1 unhashed unknown-network failures, oldest first
	fired := false
	for f := range w.EachFailure {
		switch {
		case f.Hashed:
			if !slices.Contains(pws, f.Password) {
				pws = append(pws, f.Password)
			}
			fired = len(pws) >= n
		case f.Known:
		default:
			if p := window.Network(f.Addr); !slices.Contains(nets, p) {
				nets = append(nets, p)
			}
			if len(recent) == n-1 {
				fired = f.Time.Sub(recent[0]) < BruteForceRate
				recent = append(recent[:0], recent[1:]...)
			}
			recent = append(recent, f.Time)
			fired = fired || len(nets) >= n
		}
		if fired {
			return true
		}
	}
	return false
}

// Evidence implements Rule: failures and distinct passwords in 24 h, the failing addresses (IPv6 as its /64),
// and the user's successful logins; FirstSeen is the oldest failure.
func (BruteForce) Evidence(inc incident.Incident, w *window.User) incident.Incident {
	fs := w.Failures()
	var pws []uint32
	for _, f := range fs {
		if f.Hashed && !slices.Contains(pws, f.Password) {
			pws = append(pws, f.Password)
		}
		a := f.Addr.String()
		if !f.Addr.Is4() {
			a = window.Network(f.Addr).String()
		}
		if !slices.Contains(inc.IPs, a) {
			inc.IPs = append(inc.IPs, a)
		}
	}
	slices.Sort(inc.IPs)
	inc.Failures, inc.DistinctPasswords = uint32(len(fs)), uint32(len(pws))
	if len(fs) > 0 {
		inc.FirstSeen = fs[0].Time
	}
	for _, c := range w.Countries() {
		inc.Logins += uint32(c.Logins)
	}
	msgs, rcpts := w.Sent()
	inc.Messages24h, inc.Recipients24h = uint32(msgs), uint32(rcpts)
	return inc
}
