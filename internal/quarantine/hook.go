package quarantine

import (
	"context"

	"github.com/vigil-ids/vigil/internal/postfix"
)

// PostfixHook is the Postfix policy server's postfix.HoldRecorder: it records each held message with the
// Recorder, under Host (VIGIL_MAILHOST_NAME), or under the policy request's reporting server when Host is empty.
type PostfixHook struct {
	Recorder *Recorder
	Host     string
}

// Held records m; it returns at once (Recorder.Held).
func (h PostfixHook) Held(ctx context.Context, m postfix.HeldMessage) {
	host := h.Host
	if host == "" {
		host = m.Source
	}
	h.Recorder.Held(ctx, HeldMessage{Host: host, QueueID: m.QueueID, Sender: m.Sender, User: m.User, Recipients: m.RecipientCount,
		Size: m.Size, Time: m.Time, DecisionID: m.DecisionID, IncidentID: m.IncidentID})
}
