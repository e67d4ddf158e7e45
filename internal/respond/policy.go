package respond

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/rule"
)

// Mode says whether a policy entry's actions are enforced.
type Mode string

// The modes. Observe stores what would have been done (shown on the incident, counted in
// vigil_decisions_would_total) and enforces nothing; Enforce makes the mail servers carry it out.
const (
	Observe Mode = "observe"
	Enforce Mode = "enforce"
)

// Target says whom an entry's decisions name.
type Target string

// The targets.
const (
	// TargetUser: the incident's account (user-keyed incidents only).
	TargetUser Target = "user"
	// TargetNetwork: the incident's address or /24 (IPv4) or /64 (IPv6) prefix (address-keyed incidents only).
	TargetNetwork Target = "network"
	// TargetVictims: the accounts an address-keyed incident's source then logged in to (Addr.Victims).
	TargetVictims Target = "victims"
)

// Limits of a policy file.
const (
	MaxPolicyBytes = 1 << 20
	MaxEntries     = 256
	MaxDomains     = 10000
	MaxComboRules  = 4
	DefaultWithin  = 24 * time.Hour
)

// Duration is a time.Duration written as a Go duration string ("24h", "90m") in JSON.
type Duration time.Duration

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`a duration string like "24h" or "30m"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%.30q is not a duration like \"24h\" or \"30m\"", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Entry is one line of the policy: when an incident of Rules arrives (all of them, for a combination, within
// Within of each other on one account), take Actions on Target for Duration, in Mode.
type Entry struct {
	Name        string            `json:"name"`
	Rules       []string          `json:"rules,omitempty"`
	Target      Target            `json:"target,omitempty"`
	Within      *Duration         `json:"within,omitempty"`
	Mode        Mode              `json:"mode,omitempty"`
	Actions     []decision.Action `json:"actions,omitempty"`
	Duration    *Duration         `json:"duration,omitempty"`
	TarpitDelay *Duration         `json:"tarpit_delay,omitempty"`
	Reason      *string           `json:"reason,omitempty"`
	Then        *Escalation       `json:"then,omitempty"`
}

// Escalation adds actions once an address-keyed incident keeps growing: when its newest evidence is After later
// than its evidence when the responder first saw it (the address went on failing despite the first actions).
type Escalation struct {
	After   Duration          `json:"after"`
	Actions []decision.Action `json:"actions"`
}

// DomainPolicy overrides the policy for the accounts of one domain: Mode switches every entry, and each entry
// either changes fields of the global entry of its name or adds a new one for this domain.
type DomainPolicy struct {
	Mode    Mode    `json:"mode,omitempty"`
	Entries []Entry `json:"entries,omitempty"`
}

// File is the JSON document of VIGIL_CONTAINMENT_POLICY.
type File struct {
	Mode    Mode                    `json:"mode,omitempty"`
	Entries []Entry                 `json:"entries"`
	Domains map[string]DomainPolicy `json:"domains,omitempty"`
}

// Rule is a resolved entry: every field set, the mode decided.
type Rule struct {
	Name        string
	Rules       []string
	Target      Target
	Within      time.Duration
	Mode        Mode
	Actions     []decision.Action
	Duration    time.Duration
	TarpitDelay int // seconds
	Reason      string
	Then        *Escalation
}

// Combination reports whether the entry needs incidents of several rules.
func (r *Rule) Combination() bool { return len(r.Rules) > 1 }

// Label is the rule label of the entry's decisions and metrics: its rule, or its rules joined with '+'.
func (r *Rule) Label() string { return strings.Join(r.Rules, "+") }

// Policy is a validated containment policy.
type Policy struct {
	global  []Rule
	domains map[string][]Rule
}

// Recommended is the policy used without VIGIL_CONTAINMENT_POLICY: the recommended mapping, all in observe mode.
const Recommended = `{
  "mode": "observe",
  "entries": [
    {"name": "hijacked-sender", "rules": ["multi_country", "send_volume"], "within": "24h",
     "actions": ["hold_mail"], "duration": "24h",
     "reason": "Outgoing mail is held for review after unusual activity on your account"},
    {"name": "spraying-address", "rules": ["password_spray"], "target": "network",
     "actions": ["tarpit"], "tarpit_delay": "5s", "duration": "6h",
     "then": {"after": "15m", "actions": ["block_login"]},
     "reason": "Too many failed logins from your network"},
    {"name": "brute-forcing-address", "rules": ["brute_force"], "target": "network",
     "actions": ["tarpit"], "tarpit_delay": "5s", "duration": "6h",
     "then": {"after": "15m", "actions": ["block_login"]},
     "reason": "Too many failed logins from your network"},
    {"name": "sprayed-account-logged-in", "rules": ["password_spray"], "target": "victims",
     "actions": ["block_login", "kick"], "duration": "24h",
     "reason": "Your account is locked after a password attack; contact support"}
  ]
}`

// RecommendedPolicy returns the parsed Recommended policy.
func RecommendedPolicy() *Policy {
	p, err := ParsePolicy(strings.NewReader(Recommended))
	if err != nil {
		panic("respond: the recommended policy is invalid: " + err.Error())
	}
	return p
}

var (
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	ruleRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
)

// ParsePolicy reads and validates a policy document (at most MaxPolicyBytes, unknown fields refused). Its error
// names every problem with its place, like `entries[1] ("spraying-address").actions: hold_mail does not apply to
// a network`.
func ParsePolicy(r io.Reader) (*Policy, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxPolicyBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxPolicyBytes {
		return nil, fmt.Errorf("larger than %d bytes", MaxPolicyBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not a policy document: %w", jsonError(data, err))
	}
	if dec.More() {
		return nil, errors.New("not a policy document: data after the JSON object")
	}
	return f.Compile()
}

// jsonError adds the line of a syntax error.
func jsonError(data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) && se.Offset <= int64(len(data)) {
		return fmt.Errorf("line %d: %w", bytes.Count(data[:se.Offset], []byte("\n"))+1, err)
	}
	return err
}

// Compile validates f and resolves every entry per domain.
func (f File) Compile() (*Policy, error) {
	var errs []error
	fail := func(where, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...)))
	}
	if err := checkMode(f.Mode); err != nil {
		fail("mode", "%v", err)
	}
	if len(f.Entries) > MaxEntries {
		fail("entries", "at most %d", MaxEntries)
		f.Entries = f.Entries[:MaxEntries]
	}
	if len(f.Domains) > MaxDomains {
		fail("domains", "at most %d", MaxDomains)
	}
	p := &Policy{domains: map[string][]Rule{}}
	names := map[string]int{}
	for i, e := range f.Entries {
		where := fmt.Sprintf("entries[%d]", i)
		if e.Name != "" {
			where += fmt.Sprintf(" (%q)", e.Name)
		}
		if _, dup := names[e.Name]; dup && e.Name != "" {
			fail(where+".name", "used by entries[%d] already", names[e.Name])
		}
		names[e.Name] = i
		r, err := resolve(where, e, nil, "", f.Mode)
		errs = append(errs, err...)
		p.global = append(p.global, r)
	}
	for dom, dp := range f.Domains {
		where := fmt.Sprintf("domains[%q]", dom)
		if d := strings.ToLower(strings.TrimSpace(dom)); d != dom || dom == "" || len(dom) > event.MaxDomainLen ||
			strings.ContainsAny(dom, "@/ ") || strings.ContainsFunc(dom, func(r rune) bool { return !unicode.IsPrint(r) }) {
			fail(where, "a lower-case domain name (1-%d bytes, no '@', spaces or control characters)", event.MaxDomainLen)
			continue
		}
		if err := checkMode(dp.Mode); err != nil {
			fail(where+".mode", "%v", err)
		}
		if len(dp.Entries) > MaxEntries {
			fail(where+".entries", "at most %d", MaxEntries)
			continue
		}
		over := map[string]int{}
		for i, e := range dp.Entries {
			if j, dup := over[e.Name]; dup {
				fail(fmt.Sprintf("%s.entries[%d]", where, i), "name %q is used by entries[%d] of this domain already", e.Name, j)
			}
			over[e.Name] = i
		}
		var rules []Rule
		for i, e := range f.Entries {
			ew := fmt.Sprintf("%s entries[%d] (%q)", where, i, e.Name)
			if j, ok := over[e.Name]; ok && e.Name != "" {
				r, err := resolve(fmt.Sprintf("%s.entries[%d] (%q)", where, j, e.Name), dp.Entries[j], &e, dp.Mode, f.Mode)
				errs = append(errs, err...)
				rules = append(rules, r)
				continue
			}
			if dp.Mode != "" { // the domain's mode switches the global entries it does not override
				e.Mode = dp.Mode
			}
			r, err := resolve(ew, e, nil, "", f.Mode)
			if len(err) == 0 { // the global entry's own errors are reported once, above
				rules = append(rules, r)
			}
		}
		for i, e := range dp.Entries {
			if _, global := names[e.Name]; global && e.Name != "" {
				continue
			}
			if e.Mode == "" {
				e.Mode = dp.Mode
			}
			r, err := resolve(fmt.Sprintf("%s.entries[%d] (%q)", where, i, e.Name), e, nil, "", f.Mode)
			errs = append(errs, err...)
			rules = append(rules, r)
		}
		p.domains[dom] = rules
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

func checkMode(m Mode) error {
	if m != "" && m != Observe && m != Enforce {
		return fmt.Errorf("%.20q: must be observe or enforce", m)
	}
	return nil
}

// resolve merges an entry over its global base (for a domain's override, whose mode is its own, then the domain's,
// then the base entry's), fills defaults (the mode: the policy's, then observe) and validates the result.
func resolve(where string, e Entry, base *Entry, domainMode, policyMode Mode) (Rule, []error) {
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", where, field, fmt.Sprintf(format, args...)))
	}
	if base != nil {
		if len(e.Rules) > 0 && !slices.Equal(e.Rules, base.Rules) {
			fail("rules", "a domain override cannot change the rules of %q; give the entry a new name", base.Name)
		}
		if e.Target != "" && e.Target != base.Target {
			fail("target", "a domain override cannot change the target of %q; give the entry a new name", base.Name)
		}
		m := *base
		if e.Within != nil {
			m.Within = e.Within
		}
		if e.Mode != "" {
			m.Mode = e.Mode
		} else if domainMode != "" {
			m.Mode = domainMode
		}
		if e.Actions != nil {
			m.Actions = e.Actions
		}
		if e.Duration != nil {
			m.Duration = e.Duration
		}
		if e.TarpitDelay != nil {
			m.TarpitDelay = e.TarpitDelay
		}
		if e.Reason != nil {
			m.Reason = e.Reason
		}
		if e.Then != nil {
			m.Then = e.Then
		}
		e = m
	}
	r := Rule{Name: e.Name, Rules: e.Rules, Target: e.Target, Mode: e.Mode, Actions: e.Actions, Then: e.Then,
		Within: DefaultWithin, Duration: decision.DefaultExpiry}
	if !nameRE.MatchString(e.Name) {
		fail("name", "1-64 lower-case letters, digits, '-' or '_'")
	}
	if err := checkMode(e.Mode); err != nil {
		fail("mode", "%v", err)
	}
	if r.Mode == "" {
		r.Mode = policyMode
	}
	if r.Mode == "" {
		r.Mode = Observe
	}
	if r.Target == "" {
		r.Target = TargetUser
	}
	if len(r.Rules) == 0 {
		fail("rules", "name at least one rule")
	}
	if len(r.Rules) > MaxComboRules {
		fail("rules", "at most %d", MaxComboRules)
	}
	seen := map[string]bool{}
	for _, name := range r.Rules {
		if !ruleRE.MatchString(name) {
			fail("rules", "%.40q is not a rule name", name)
		}
		if seen[name] {
			fail("rules", "%q twice", name)
		}
		seen[name] = true
	}
	var kind decision.Kind
	switch r.Target {
	case TargetUser, TargetVictims:
		kind = decision.User
	case TargetNetwork:
		kind = decision.Network
	default:
		fail("target", "%.20q: must be user, network or victims", r.Target)
	}
	if known := knownRules(r.Target); known != nil {
		for _, name := range r.Rules {
			if ruleRE.MatchString(name) && !slices.Contains(known, name) {
				fail("rules", "%q is not a rule of %s incidents; use one of %s", name, kindOfIncidents(r.Target), strings.Join(known, ", "))
			}
		}
	}
	if len(r.Rules) > 1 && r.Target != TargetUser {
		fail("rules", "a combination of rules applies to an account (target user)")
	}
	if e.Within != nil {
		r.Within = time.Duration(*e.Within)
		if len(r.Rules) < 2 {
			fail("within", "only a combination of rules takes a window")
		}
		if r.Within < time.Minute || r.Within > 7*24*time.Hour {
			fail("within", "1m-168h")
		}
	}
	checkActions := func(field string, as []decision.Action) {
		if len(as) == 0 {
			fail(field, "name at least one action")
		}
		dup := map[decision.Action]bool{}
		for _, a := range as {
			if kind != "" && !slices.Contains(decision.ActionsFor(kind), a) {
				if slices.Contains(decision.Actions, a) {
					fail(field, "%s does not apply to a %s (target %s); use one of %s", a, kind, r.Target, joinActions(decision.ActionsFor(kind)))
				} else {
					fail(field, "%.20q is not an action; use one of %s", a, joinActions(decision.ActionsFor(kind)))
				}
			}
			if dup[a] {
				fail(field, "%s twice", a)
			}
			dup[a] = true
		}
	}
	checkActions("actions", r.Actions)
	if e.Duration != nil {
		r.Duration = time.Duration(*e.Duration)
		if r.Duration < time.Minute || r.Duration > decision.MaxDuration {
			fail("duration", "1m-%s", decision.MaxDuration)
		}
	}
	tarpit := slices.Contains(r.Actions, decision.Tarpit) || (r.Then != nil && slices.Contains(r.Then.Actions, decision.Tarpit))
	switch {
	case e.TarpitDelay != nil && !tarpit:
		fail("tarpit_delay", "only an entry with the tarpit action takes a delay")
	case e.TarpitDelay != nil:
		d := time.Duration(*e.TarpitDelay)
		if d < time.Second || d > decision.MaxDelay*time.Second || d%time.Second != 0 {
			fail("tarpit_delay", "whole seconds, 1s-%ds", decision.MaxDelay)
		}
		r.TarpitDelay = int(d / time.Second)
	case tarpit:
		r.TarpitDelay = 5
	}
	if r.Then != nil {
		if r.Target != TargetNetwork {
			fail("then", "escalation applies to an address (target network)")
		}
		if a := time.Duration(r.Then.After); a < time.Minute || a > 24*time.Hour {
			fail("then.after", "1m-24h")
		}
		checkActions("then.actions", r.Then.Actions)
	}
	if e.Reason != nil {
		r.Reason = *e.Reason
	} else {
		r.Reason = defaultReason(r.Label())
	}
	if len(r.Reason) > decision.MaxReasonLen || strings.ContainsFunc(r.Reason, func(c rune) bool { return !unicode.IsPrint(c) && c != ' ' }) {
		fail("reason", "at most %d bytes of printable text, no line breaks (it is shown to the mail client)", decision.MaxReasonLen)
	}
	if r.Reason == "" {
		fail("reason", "must not be empty (it is shown to the mail client)")
	}
	return r, errs
}

// knownRules lists the rules whose incidents a target takes: the account rules for user, the address-keyed rules
// for network and victims; nil for an unknown target.
func knownRules(t Target) []string {
	var out []string
	switch t {
	case TargetUser:
		for _, r := range rule.All() {
			out = append(out, string(r.Name()))
		}
	case TargetNetwork, TargetVictims:
		for _, r := range rule.AddrRules() {
			out = append(out, string(r.Name()))
		}
	default:
		return nil
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func kindOfIncidents(t Target) string {
	if t == TargetUser {
		return "account"
	}
	return "address-keyed"
}

func defaultReason(label string) string {
	return "Blocked by the security policy (" + label + ")"
}

func joinActions(as []decision.Action) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

// For returns the entries that apply to the accounts of a domain (its overrides, or the global entries).
func (p *Policy) For(domain string) []Rule {
	if rs, ok := p.domains[domain]; ok {
		return rs
	}
	return p.global
}

func (p *Policy) domainRules() [][]Rule {
	out := make([][]Rule, 0, len(p.domains))
	for _, rs := range p.domains {
		out = append(out, rs)
	}
	return out
}

// Global returns the entries without domain overrides; they apply to networks.
func (p *Policy) Global() []Rule { return p.global }

// Rules lists every rule name the policy reacts to.
func (p *Policy) Rules() []string {
	var out []string
	add := func(rs []Rule) {
		for _, r := range rs {
			for _, n := range r.Rules {
				if !slices.Contains(out, n) {
					out = append(out, n)
				}
			}
		}
	}
	add(p.global)
	for _, rs := range p.domains {
		add(rs)
	}
	slices.Sort(out)
	return out
}
