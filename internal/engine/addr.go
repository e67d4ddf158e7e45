package engine

import (
	"net/netip"
	"slices"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/rule"
	"github.com/vigil-ids/vigil/internal/window"
)

// AddrEngine holds the windows of the client addresses of one or more address partitions and runs the
// address-keyed rules (rule.AddrRules) on them. Each login is counted under its address and under its /24 (IPv4)
// or /64 (IPv6); a prefix raises an incident only when its failures come from at least two addresses (one
// address is its own key's incident). A key is tracked from its first failure: successful logins are recorded
// only at keys with failures in the window, so memory follows the failing addresses, not every user's addresses.
// It is not safe for concurrent use.
type AddrEngine struct {
	rules      []rule.AddrRule
	global     []int
	domains    map[string][]int
	keys       map[netip.Prefix]*addrKey
	single     map[netip.Prefix]netip.Addr // prefixes with failures from one address only, which has its own key
	domainIdx  map[string]uint32           // interned domains of targeted users, index into domainName
	domainName []string
	watermark  int64
}

type addrKey struct {
	window.Addr
	open *[]openIncident // indexed by rule position; allocated for the few keys with an incident
}

// NewAddr returns an AddrEngine. Per-domain settings of the address rules only switch a rule off for that
// domain's users (a failure against them is not counted by that rule): one address attacks users of many domains,
// so the threshold is the global one. brute_force's configured level belongs to its user-keyed half; its
// address half keeps its own level (rule.BruteForceAddr).
func NewAddr(cfg *rule.Config) *AddrEngine {
	rules := rule.AddrRules()
	e := &AddrEngine{rules: rules, domains: map[string][]int{}, keys: map[netip.Prefix]*addrKey{}, single: map[netip.Prefix]netip.Addr{}}
	e.global = make([]int, len(rules))
	for i, r := range rules {
		e.global[i] = r.Level().Default
		if n, ok := cfg.Global[r.Name()]; ok && n > 0 && r.ThresholdFromConfig() {
			e.global[i] = n
		}
	}
	for d, over := range cfg.Domains {
		lv := slices.Clone(e.global)
		for i, r := range rules {
			if over[r.Name()] == rule.Off {
				lv[i] = rule.Off
			}
		}
		e.domains[d] = lv
	}
	return e
}

func (e *AddrEngine) levels(domain string) []int {
	if lv, ok := e.domains[domain]; ok {
		return lv
	}
	return e.global
}

// Process applies one address event and appends any incident it opened or updated to incs.
func (e *AddrEngine) Process(ev *event.AddrEvent, incs []incident.Incident) []incident.Incident {
	if ts := ev.Time.Unix(); ts > e.watermark {
		e.watermark = ts
	}
	if ev.Known && !ev.Success {
		return incs // the user's own device at the user's usual address
	}
	lv := e.levels(ev.Domain)
	var use rule.Use
	for i, r := range e.rules {
		if lv[i] != rule.Off {
			use |= r.Uses()
		}
	}
	if use == 0 {
		return incs
	}
	ip := ev.IP.Unmap()
	for _, key := range [2]netip.Prefix{netip.PrefixFrom(ip, ip.BitLen()), event.AddrPrefix(ip)} {
		prefix := !key.IsSingleIP()
		k := e.keys[key]
		switch {
		case k != nil:
		case ev.Success:
			continue // a success matters only at a key with failures: memory follows the failing addresses
		case prefix:
			// While one address of a prefix fails, its own window holds all the prefix's would: the prefix gets a
			// window, a copy of that address's, when a second address fails.
			first, ok := e.single[key]
			if !ok || first == ip {
				e.single[key] = ip
				continue
			}
			delete(e.single, key)
			k = &addrKey{}
			if src := e.keys[netip.PrefixFrom(first, first.BitLen())]; src != nil {
				k.Addr = src.ClonePrefix(first)
			}
			e.keys[key] = k
		default:
			k = &addrKey{}
			e.keys[key] = k
		}
		var changed bool
		if ev.Success {
			changed = k.AddSuccess(ev.Time, ev.User, k.open != nil) // a victim of an incident is always named
		} else {
			changed = k.AddFailure(window.AddrFailure{
				Time: ev.Time, ID: window.HashID(ev.ID), User: ev.User, Domain: e.domain(ev.Domain), Service: rule.ServiceIndex(ev.Service),
				PWHash: ev.PWHash, IP: ip, Attempt: use&rule.UseAttempts != 0, Target: use&rule.UseTargets != 0, TrackAddr: prefix,
			})
		}
		if !changed {
			continue
		}
		for i := range e.rules {
			if lv[i] == rule.Off {
				continue
			}
			incs = e.evaluate(k, key, ev, i, incs)
		}
	}
	return incs
}

func (e *AddrEngine) evaluate(k *addrKey, key netip.Prefix, ev *event.AddrEvent, i int, incs []incident.Incident) []incident.Incident {
	r := e.rules[i]
	if !key.IsSingleIP() && k.Addresses() < 2 {
		return incs
	}
	if !r.FiresAddr(&k.Addr, e.global[i]) {
		return incs
	}
	o := k.opened(i, len(e.rules))
	if o.start.IsZero() || !k.Newest().Before(o.start.Add(window.Span)) {
		if ev.Success {
			return incs // a success only adds evidence (a victim) to an open incident
		}
		*o = openIncident{start: ev.Time.Truncate(time.Second)}
	}
	o.version++
	text := KeyText(key)
	inc := incident.Incident{
		ID:          incident.ID(r.Name(), "addr:"+text, o.start),
		Rule:        r.Name(),
		Status:      incident.StatusOpen,
		WindowStart: o.start,
		LastSeen:    k.Newest(),
		IPs:         []string{text},
		Version:     o.version,
	}
	inc = r.AddrEvidence(inc, &k.Addr)
	if d, ok := k.Domain(); ok && int(d) < len(e.domainName) {
		inc.Domain = e.domainName[d]
	}
	if inc.FirstSeen.IsZero() || inc.FirstSeen.After(o.start) {
		inc.FirstSeen = o.start
	}
	return append(incs, inc)
}

// KeyText is how a key is written on its incident: the bare address, or the prefix in CIDR notation.
func KeyText(key netip.Prefix) string {
	if key.IsSingleIP() {
		return key.Addr().String()
	}
	return key.String()
}

// ParseKey parses a KeyText.
func ParseKey(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

// Seed restores an address-keyed incident committed before a restart, so a replay updates it rather than opening
// another. Incidents of other rules or keys are ignored.
func (e *AddrEngine) Seed(inc incident.Incident) {
	if inc.Addr == nil || inc.User != "" {
		return
	}
	i := slices.IndexFunc(e.rules, func(r rule.AddrRule) bool { return r.Name() == inc.Rule })
	key, ok := ParseKey(inc.Addr.Key)
	if i < 0 || !ok {
		return
	}
	k := e.keys[key]
	if k == nil {
		k = &addrKey{}
		e.keys[key] = k
	}
	o := k.opened(i, len(e.rules))
	if inc.WindowStart.After(o.start) {
		*o = openIncident{start: inc.WindowStart, version: inc.Version}
	} else if inc.WindowStart.Equal(o.start) && inc.Version > o.version {
		o.version = inc.Version
	}
}

// Evict forgets keys whose window is empty and that have no incident open within the last 24 hours of event time.
// It returns the number of keys still tracked.
func (e *AddrEngine) Evict() int {
	now := time.Unix(e.watermark, 0)
	for key, k := range e.keys {
		if !k.Idle(now) || k.open != nil && slices.ContainsFunc(*k.open, func(o openIncident) bool { return active(o, now) }) {
			continue
		}
		delete(e.keys, key)
	}
	for p, ip := range e.single {
		if e.keys[netip.PrefixFrom(ip, ip.BitLen())] == nil {
			delete(e.single, p)
		}
	}
	return len(e.keys)
}

// Keys returns the number of addresses and prefixes with a window.
func (e *AddrEngine) Keys() int { return len(e.keys) }

// maxDomains bounds the interned domains: domains come from user names, which an attacker chooses. Beyond it, a
// target's domain is unknown ("" on the incident).
const maxDomains = 1 << 16

// domain interns a domain; index 0 is "".
func (e *AddrEngine) domain(d string) uint32 {
	if i, ok := e.domainIdx[d]; ok {
		return i
	}
	if e.domainIdx == nil {
		e.domainIdx, e.domainName = map[string]uint32{"": 0}, []string{""}
		if d == "" {
			return 0
		}
	}
	if len(e.domainName) >= maxDomains {
		return 0
	}
	i := uint32(len(e.domainName))
	e.domainIdx[d] = i
	e.domainName = append(e.domainName, d)
	return i
}

// opened returns the open incident of rule i, allocating the key's table of n rules on first use.
func (k *addrKey) opened(i, n int) *openIncident {
	if k.open == nil {
		s := make([]openIncident, n)
		k.open = &s
	}
	return &(*k.open)[i]
}
