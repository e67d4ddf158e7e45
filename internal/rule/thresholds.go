package rule

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/vigil-ids/vigil/internal/incident"
)

// Off as a per-domain threshold switches the rule off for that domain ("rulename=off").
const Off = -1

// Thresholds are the levels at which rules fire, by rule name. In a domain override a missing rule inherits the
// global level; in the global thresholds it takes the rule's default.
type Thresholds map[incident.Rule]int

// Defaults are the thresholds used when nothing else is configured.
var Defaults = defaults(All())

func defaults(rules []Rule) Thresholds {
	t := Thresholds{}
	for _, r := range rules {
		t[r.Name()] = r.Level().Default
	}
	return t
}

// Config is the global thresholds plus per-domain overrides.
type Config struct {
	Global  Thresholds
	Domains map[string]Thresholds
}

// For returns the thresholds of every rule that apply to a domain; a rule switched off there is Off.
func (c *Config) For(domain string) Thresholds {
	t := defaults(All())
	maps.Copy(t, c.Global)
	for name, n := range c.Domains[domain] {
		if n != 0 {
			t[name] = n
		}
	}
	return t
}

// Validate reports every out-of-range threshold and every unknown rule name.
func (c *Config) Validate() error {
	rules := All()
	var errs []error
	check := func(where string, t Thresholds, domain bool) {
		for _, name := range slices.Sorted(maps.Keys(t)) {
			n := t[name]
			i := slices.IndexFunc(rules, func(r Rule) bool { return r.Name() == name })
			switch {
			case i < 0:
				errs = append(errs, fmt.Errorf("%s threshold for unknown rule %q (want %s)", where, name, names(rules)))
			case domain && n == Off:
			case n < rules[i].Level().Min:
				errs = append(errs, fmt.Errorf("%s %s threshold %d: must be at least %d", where, name, n, rules[i].Level().Min))
			case rules[i].Level().Max > 0 && n > rules[i].Level().Max:
				errs = append(errs, fmt.Errorf("%s %s threshold %d: must be at most %d", where, name, n, rules[i].Level().Max))
			}
		}
	}
	check("global", c.Global, false)
	for _, d := range slices.Sorted(maps.Keys(c.Domains)) {
		check("domain "+d, c.Domains[d], true)
	}
	return errors.Join(errs...)
}

func names(rules []Rule) string {
	s := make([]string, len(rules))
	for i, r := range rules {
		s[i] = string(r.Name())
	}
	slices.Sort(s)
	return strings.Join(s, " or ")
}

// ParseDomains parses per-domain overrides written as
// "example.org:send_volume=2000:multi_country=3,shop.example:send_volume=5000:multi_country=off".
func ParseDomains(s string) (map[string]Thresholds, error) {
	out := map[string]Thresholds{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	if len(s) > 64<<10 {
		return nil, errors.New("domain thresholds: longer than 64 KiB")
	}
	rules := All()
	for _, item := range strings.Split(s, ",") {
		parts := strings.Split(strings.TrimSpace(item), ":")
		domain := strings.ToLower(parts[0])
		if domain == "" || len(parts) < 2 {
			return nil, fmt.Errorf("domain thresholds %q: want domain:rule=N[:rule=N]", item)
		}
		if _, dup := out[domain]; dup {
			return nil, fmt.Errorf("domain thresholds: %s listed twice", domain)
		}
		t := Thresholds{}
		for _, kv := range parts[1:] {
			name, val, ok := strings.Cut(kv, "=")
			n, err := strconv.Atoi(val)
			if val == "off" {
				n, err = Off, nil
			} else if err == nil && n < 1 {
				err = errors.New("not positive")
			}
			if !ok || err != nil {
				return nil, fmt.Errorf("domain thresholds %q: %q is not rule=N with N a positive integer or off", item, kv)
			}
			if !slices.ContainsFunc(rules, func(r Rule) bool { return string(r.Name()) == name }) {
				return nil, fmt.Errorf("domain thresholds %q: unknown rule %q (want %s)", item, name, names(rules))
			}
			if _, dup := t[incident.Rule(name)]; dup {
				return nil, fmt.Errorf("domain thresholds %q: rule %s listed twice", item, name)
			}
			t[incident.Rule(name)] = n
		}
		out[domain] = t
	}
	return out, nil
}

// Table is a Config resolved against a rule list for the engine's hot path: levels indexed by rule position.
type Table struct {
	Rules   []Rule
	global  []int
	domains map[string][]int
}

// Compile resolves c against rules. A threshold missing from c takes the rule's default.
func (c *Config) Compile(rules []Rule) *Table {
	t := &Table{Rules: rules, global: make([]int, len(rules)), domains: make(map[string][]int, len(c.Domains))}
	for i, r := range rules {
		t.global[i] = r.Level().Default
		if n, ok := c.Global[r.Name()]; ok {
			t.global[i] = n
		}
	}
	for d, over := range c.Domains {
		lv := slices.Clone(t.global)
		for i, r := range rules {
			if n, ok := over[r.Name()]; ok && n != 0 {
				lv[i] = n
			}
		}
		t.domains[d] = lv
	}
	return t
}

// Levels returns the thresholds for a domain, indexed like Rules; Off marks a rule switched off. The caller must not
// modify the slice.
func (t *Table) Levels(domain string) []int {
	if lv, ok := t.domains[domain]; ok {
		return lv
	}
	return t.global
}
