package decision

import (
	"net/netip"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/netset"
)

// State is where a decision is in its life, for listing.
type State string

// The states. A lifted decision is StateLifted even past its expiry; an observe-mode one that is neither lifted nor
// expired is StateObserved (shown as "would have …"), never StateActive.
const (
	StateActive   State = "active"
	StateObserved State = "observed"
	StateLifted   State = "lifted"
	StateExpired  State = "expired"
)

// States lists the states in a stable order.
var States = []State{StateActive, StateObserved, StateLifted, StateExpired}

// State returns d's state at now.
func (d *Decision) State(now time.Time) State {
	switch {
	case d.Lifted():
		return StateLifted
	case !now.Before(d.ExpiresAt):
		return StateExpired
	case d.Observe:
		return StateObserved
	}
	return StateActive
}

// Filter selects decisions for a list. Zero fields do not filter.
type Filter struct {
	State      State  // one of States; "" for every state
	Kind       Kind   // user or network
	Action     Action // one of Actions
	IncidentID string // the incident that caused it
	// Subject is a user name (matched case-insensitively), a network (its canonical prefix) or an address, which
	// also matches the network decisions whose prefix contains it.
	Subject string
}

// Match reports whether d passes f at now.
func (f Filter) Match(d *Decision, now time.Time) bool {
	if (f.State != "" && d.State(now) != f.State) || (f.Kind != "" && d.Kind != f.Kind) || (f.Action != "" && d.Action != f.Action) ||
		(f.IncidentID != "" && d.IncidentID != f.IncidentID) {
		return false
	}
	if f.Subject == "" {
		return true
	}
	s := strings.ToLower(strings.TrimSpace(f.Subject))
	if d.Subject == s {
		return true
	}
	if d.Kind != Network {
		return false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		p, err := netip.ParsePrefix(d.Subject)
		return err == nil && p.Contains(a.Unmap())
	}
	p, err := netset.ParsePrefix(s)
	return err == nil && p.String() == d.Subject
}
