// Package rule holds the detection thresholds, global and per domain.
package rule

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Thresholds are the levels at which the rules fire.
type Thresholds struct {
	MultiCountry int // distinct countries of successful untrusted logins in 24 h
	SendVolume   int // messages sent in 24 h
}

// Defaults are the thresholds used when nothing else is configured.
var Defaults = Thresholds{MultiCountry: 2, SendVolume: 500}

// Config is the global thresholds plus per-domain overrides. A zero field in an override inherits the global value.
type Config struct {
	Global  Thresholds
	Domains map[string]Thresholds
}

// For returns the thresholds that apply to a domain.
func (c *Config) For(domain string) Thresholds {
	t := c.Global
	if d, ok := c.Domains[domain]; ok {
		if d.MultiCountry > 0 {
			t.MultiCountry = d.MultiCountry
		}
		if d.SendVolume > 0 {
			t.SendVolume = d.SendVolume
		}
	}
	return t
}

// Validate reports every out-of-range threshold.
func (c *Config) Validate() error {
	var errs []error
	check := func(where string, t Thresholds, zeroOK bool) {
		if t.MultiCountry < 2 && !(zeroOK && t.MultiCountry == 0) {
			errs = append(errs, fmt.Errorf("%s multi_country threshold %d: must be at least 2", where, t.MultiCountry))
		}
		if t.SendVolume < 1 && !(zeroOK && t.SendVolume == 0) {
			errs = append(errs, fmt.Errorf("%s send_volume threshold %d: must be at least 1", where, t.SendVolume))
		}
	}
	check("global", c.Global, false)
	for _, d := range slices.Sorted(maps.Keys(c.Domains)) {
		check("domain "+d, c.Domains[d], true)
	}
	return errors.Join(errs...)
}

// ParseDomains parses per-domain overrides written as
// "example.org:send_volume=2000:multi_country=3,shop.example:send_volume=5000".
func ParseDomains(s string) (map[string]Thresholds, error) {
	out := map[string]Thresholds{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	if len(s) > 64<<10 {
		return nil, errors.New("domain thresholds: longer than 64 KiB")
	}
	for _, item := range strings.Split(s, ",") {
		parts := strings.Split(strings.TrimSpace(item), ":")
		domain := strings.ToLower(parts[0])
		if domain == "" || len(parts) < 2 {
			return nil, fmt.Errorf("domain thresholds %q: want domain:rule=N[:rule=N]", item)
		}
		if _, dup := out[domain]; dup {
			return nil, fmt.Errorf("domain thresholds: %s listed twice", domain)
		}
		var t Thresholds
		for _, kv := range parts[1:] {
			name, val, ok := strings.Cut(kv, "=")
			n, err := strconv.Atoi(val)
			if !ok || err != nil || n < 1 {
				return nil, fmt.Errorf("domain thresholds %q: %q is not rule=N with N a positive integer", item, kv)
			}
			switch name {
			case "multi_country":
				t.MultiCountry = n
			case "send_volume":
				t.SendVolume = n
			default:
				return nil, fmt.Errorf("domain thresholds %q: unknown rule %q (want multi_country or send_volume)", item, name)
			}
		}
		out[domain] = t
	}
	return out, nil
}
