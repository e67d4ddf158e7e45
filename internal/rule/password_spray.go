package rule

import (
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/window"
)

// PasswordSprayName names the password_spray rule.
const PasswordSprayName incident.Rule = "password_spray"

// PasswordSpray fires when one client address (or its /24, /64) failed against at least threshold distinct users
// in 24 hours, and those users are not outnumbered by the users who only ever logged in successfully from it (a
// shared office or carrier address where a few users mistype is not a sprayer). Failures from an address where the
// user logged in successfully in the window (the user's own device, retrying a stale password) and from trusted
// networks do not count. A target who then logs in successfully from the key is named as a victim.
//
// It is in All (so its threshold and per-domain switch are configured by name) but keyed on addresses: the user
// engine skips it, the address engine evaluates it through AddrRule.
type PasswordSpray struct{}

// Name implements Rule.
func (PasswordSpray) Name() incident.Rule { return PasswordSprayName }

// Key implements Rule.
func (PasswordSpray) Key() KeyKind { return KeyAddress }

// Level implements Rule: distinct targeted users in 24 hours (Elastic: 25 failures in 30 minutes).
func (PasswordSpray) Level() Level { return Level{Default: 20, Min: 2} }

// On implements Rule.
func (PasswordSpray) On(k event.Kind) Trigger {
	if k == event.KindLogin {
		return Open
	}
	return Ignore
}

// Fires implements Rule: never on a user window.
func (PasswordSpray) Fires(*window.User, int) bool { return false }

// Evidence implements Rule.
func (PasswordSpray) Evidence(inc incident.Incident, _ *window.User) incident.Incident { return inc }

// Uses implements AddrRule.
func (PasswordSpray) Uses() Use { return UseTargets }

// ThresholdFromConfig implements AddrRule.
func (PasswordSpray) ThresholdFromConfig() bool { return true }

// FiresAddr implements AddrRule.
func (PasswordSpray) FiresAddr(w *window.Addr, threshold int) bool {
	n := w.Targets()
	return n >= threshold && n >= w.SuccessOnly()
}

// AddrEvidence implements AddrRule.
func (PasswordSpray) AddrEvidence(inc incident.Incident, w *window.Addr) incident.Incident {
	addrEvidence(&inc, w)
	return inc
}
