package rule

import (
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/window"
)

// MultiCountry fires when a user's successful untrusted logins in 24 hours come from at least threshold distinct
// countries. Logins open its incidents; sends only add evidence (messages in 24 h) to an open one.
type MultiCountry struct{}

// Name implements Rule.
func (MultiCountry) Name() incident.Rule { return incident.MultiCountry }

// Key implements Rule.
func (MultiCountry) Key() KeyKind { return KeyUser }

// Level implements Rule.
func (MultiCountry) Level() Level { return Level{Default: 2, Min: 2} }

// On implements Rule.
func (MultiCountry) On(k event.Kind) Trigger {
	switch k {
	case event.KindLogin:
		return Open
	case event.KindSend:
		return Evidence
	default:
		return Ignore
	}
}

// Fires implements Rule.
func (MultiCountry) Fires(w *window.User, threshold int) bool { return w.CountryCount() >= threshold }

// Evidence implements Rule: the per-country logins and addresses; FirstSeen is the oldest login.
func (MultiCountry) Evidence(inc incident.Incident, w *window.User) incident.Incident {
	userEvidence(&inc, w)
	return inc
}
