package rule

import (
	"slices"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/window"
)

// Use is what an address-keyed rule reads from a failed login: whether the engine must count the failure as a
// password attempt, as a targeted user, or both. A rule switched off for the failure's domain does not count it.
type Use int

// The parts of a failure an address rule reads.
const (
	UseAttempts Use = 1 << iota // distinct password attempts (brute_force by address)
	UseTargets                  // distinct targeted users (password_spray)
)

// AddrRule is a rule keyed on a client address or its /24 (IPv4) or /64 (IPv6) prefix, evaluated by the engine of
// the address partitions (see the package doc) on window.Addr. Successful logins only add evidence (the victims);
// failures may open an incident.
type AddrRule interface {
	Name() incident.Rule
	Level() Level
	Uses() Use
	// ThresholdFromConfig says whether the configured level of Name applies; false when Name is shared with a
	// user-keyed rule whose level means something else (brute_force), so only "off" is taken from the config.
	ThresholdFromConfig() bool
	// FiresAddr reports whether the window is at or over the threshold.
	FiresAddr(w *window.Addr, threshold int) bool
	// AddrEvidence returns inc with inc.Addr and the common fields filled from the window.
	AddrEvidence(inc incident.Incident, w *window.Addr) incident.Incident
}

// AddrRules returns the address-keyed rules in evaluation order.
func AddrRules() []AddrRule {
	return []AddrRule{BruteForceAddr{}, PasswordSpray{}}
}

// addrEvidence fills what every address-keyed incident carries: the key first in IPs (then, for a prefix, the
// client addresses), the targeted users, victims, counts and services; FirstSeen is the oldest failure. The engine
// sets the domain.
func addrEvidence(inc *incident.Incident, w *window.Addr) {
	attempts, hashed := w.Attempts()
	ev := &incident.Addr{
		Key:       inc.IPs[0],
		Failures:  w.Failures(),
		Attempts:  attempts,
		Hashes:    hashed,
		Fast:      w.FastAttempts(),
		Targets:   w.Targets(),
		Users:     w.Users(incident.MaxAddrUsers),
		Victims:   w.Victims(),
		Successes: w.Successes(),
		Addresses: max(w.Addresses(), 1),
		Services:  services(w.Services()),
	}
	inc.Addr = ev
	for _, ip := range w.ClientAddrs() {
		inc.IPs = append(inc.IPs, ip.String())
	}
	inc.FirstSeen = w.FirstFailure()
}

// ServiceIndex is the index of a service in event.Services that address windows keep; an unknown one is "other".
func ServiceIndex(s string) uint8 {
	if i := slices.Index(event.Services, s); i > 0 && i < 16 {
		return uint8(i)
	}
	return 0
}

func services(mask uint16) []string {
	var out []string
	for i, s := range event.Services {
		if i < 16 && mask&(1<<i) != 0 {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}
