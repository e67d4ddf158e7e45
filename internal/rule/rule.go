package rule

import (
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/window"
)

// KeyKind is what a rule counts evidence per.
type KeyKind int

// The keys a rule can be evaluated on.
const (
	KeyUser         KeyKind = iota // one mailbox; events are partitioned by user
	KeyAddress                     // one client address, across users (needs the address repartition, see doc)
	KeyPasswordHash                // one password hash, across users and addresses
)

// Trigger says what an event of some kind does to a rule.
type Trigger int

// The triggers, from weakest to strongest.
const (
	Ignore   Trigger = iota // the rule is not evaluated
	Evidence                // the rule is evaluated and may update its open incident, never open one
	Open                    // the rule is evaluated and may open an incident
)

// Level is a rule's threshold: its default, the smallest value that makes sense and the largest (0: no bound).
type Level struct {
	Default, Min, Max int
}

// Rule is one detection rule. The engine evaluates a rule after an event updated the window of the rule's key and
// fills the incident's common fields (id, key as user, domain, window start, last seen, version); the rule adds
// its evidence. Fires and Evidence get the window of the rule's key: window.User is the 24-hour window of one key,
// and an engine of address partitions will key the same window type on addresses (with the failed-login counters
// spraying needs added to it), so rules of every key share this one interface.
type Rule interface {
	Name() incident.Rule
	Key() KeyKind
	Level() Level
	// On says whether an event of kind k is evaluated, and whether it may open an incident.
	On(k event.Kind) Trigger
	// Fires reports whether the window is at or over the threshold.
	Fires(w *window.User, threshold int) bool
	// Evidence returns inc with its evidence fields filled from the window. The incident goes by value so that the
	// engine's copy stays on its stack.
	Evidence(inc incident.Incident, w *window.User) incident.Incident
}

// All returns the rules in evaluation order: when one event wakes several rules, their incidents come out in this
// order.
func All() []Rule {
	return []Rule{SendVolume{}, MultiCountry{}, BruteForce{}, NewCountry{}, ImpossibleTravel{}, PasswordSpray{}}
}
