package rule

import (
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/window"
)

// SendVolume fires when a user sent at least threshold messages in 24 hours.
type SendVolume struct{}

// Name implements Rule.
func (SendVolume) Name() incident.Rule { return incident.SendVolume }

// Key implements Rule.
func (SendVolume) Key() KeyKind { return KeyUser }

// Level implements Rule.
func (SendVolume) Level() Level { return Level{Default: 500, Min: 1} }

// On implements Rule.
func (SendVolume) On(k event.Kind) Trigger {
	switch k {
	case event.KindSend:
		return Open
	default:
		return Ignore
	}
}

// Fires implements Rule.
func (SendVolume) Fires(w *window.User, threshold int) bool {
	msgs, _ := w.Sent()
	return msgs >= threshold
}

// Evidence implements Rule: messages and recipients in 24 h, with the login evidence; FirstSeen is the oldest send.
func (SendVolume) Evidence(inc incident.Incident, w *window.User) incident.Incident {
	userEvidence(&inc, w)
	inc.FirstSeen = w.FirstSend()
	return inc
}
