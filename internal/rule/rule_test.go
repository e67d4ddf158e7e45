package rule

import (
	"maps"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ids/vigil/internal/incident"
)

func TestParseDomains(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]Thresholds
		wantErr string
	}{
		{"", map[string]Thresholds{}, ""},
		{"Example.org:send_volume=2000:multi_country=3, shop.example:send_volume=5000", map[string]Thresholds{
			"example.org":  {"multi_country": 3, "send_volume": 2000},
			"shop.example": {"send_volume": 5000},
		}, ""},
		{"example.org:multi_country=off:send_volume=2000", map[string]Thresholds{
			"example.org": {"multi_country": Off, "send_volume": 2000},
		}, ""},
		{"example.org:send_volume=-1", nil, "positive integer or off"},
		{"example.org:send_volume=OFF", nil, "positive integer or off"},
		{"example.org:send_volume=off:send_volume=3", nil, "rule send_volume listed twice"},
		{"example.org", nil, "want domain:rule=N"},
		{"example.org:send_volume=0", nil, "positive integer"},
		{"example.org:send_volume=x", nil, "positive integer"},
		{"example.org:brute=3", nil, "unknown rule"},
		{"a.org:send_volume=1,a.org:send_volume=2", nil, "listed twice"},
	}
	for _, tt := range tests {
		got, err := ParseDomains(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseDomains(%q) error = %v; want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseDomains(%q) error = %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseDomains(%q) mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestForAndValidate(t *testing.T) {
	c := Config{Global: Defaults, Domains: map[string]Thresholds{"a.org": {"send_volume": 50}}}
	want := maps.Clone(Defaults)
	want["send_volume"] = 50
	if got := c.For("a.org"); !cmp.Equal(got, want) || got["multi_country"] != 2 {
		t.Errorf("For(a.org) = %+v; want multi_country 2 inherited, send_volume 50", got)
	}
	if got := c.For("b.org"); !cmp.Equal(got, Defaults) {
		t.Errorf("For(b.org) = %+v; want defaults", got)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() = %v; want nil", err)
	}
	bad := Config{Global: Thresholds{"multi_country": 1, "send_volume": 0}}
	err := bad.Validate()
	if err == nil || !strings.Contains(err.Error(), "multi_country") || !strings.Contains(err.Error(), "send_volume") {
		t.Errorf("Validate() = %v; want both problems reported", err)
	}
}

func TestValidateNamesAndOff(t *testing.T) {
	tests := []struct {
		name    string
		c       Config
		wantErr []string // substrings; none means valid
	}{
		{"off per domain", Config{Global: Defaults, Domains: map[string]Thresholds{"a.org": {"send_volume": Off}}}, nil},
		{"missing global takes default", Config{Global: Thresholds{"send_volume": 10}}, nil},
		{"off globally", Config{Global: Thresholds{"multi_country": Off}}, []string{"global multi_country threshold -1: must be at least 2"}},
		{"unknown rules", Config{Global: Thresholds{"brute": 3}, Domains: map[string]Thresholds{"a.org": {"spray": 2}}},
			[]string{`global threshold for unknown rule "brute" (want brute_force or impossible_travel or multi_country or new_country or password_spray or send_volume)`, `domain a.org threshold for unknown rule "spray"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if len(tt.wantErr) == 0 && err != nil {
				t.Fatalf("Validate() = %v; want nil", err)
			}
			for _, w := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v; want one containing %q", err, w)
				}
			}
		})
	}
}

func TestCompile(t *testing.T) {
	c := Config{
		Global:  Thresholds{"send_volume": 100}, // multi_country missing: its default 2
		Domains: map[string]Thresholds{"a.org": {"multi_country": 3, "send_volume": 0}, "b.org": {"send_volume": Off}},
	}
	tab := c.Compile(All())
	names := make([]incident.Rule, len(tab.Rules))
	for i, r := range tab.Rules {
		names[i] = r.Name()
	}
	levels := func(d string) map[incident.Rule]int {
		m := map[incident.Rule]int{}
		for i, n := range tab.Levels(d) {
			m[names[i]] = n
		}
		return m
	}
	for _, tt := range []struct {
		domain string
		want   map[incident.Rule]int
	}{
		{"other.org", map[incident.Rule]int{"brute_force": 8, "multi_country": 2, "new_country": 10, "send_volume": 100, "impossible_travel": 1000}},
		{"a.org", map[incident.Rule]int{"brute_force": 8, "multi_country": 3, "new_country": 10, "send_volume": 100, "impossible_travel": 1000}},
		{"b.org", map[incident.Rule]int{"brute_force": 8, "multi_country": 2, "new_country": 10, "send_volume": Off, "impossible_travel": 1000}},
	} {
		// Only the rules this case names: rules added to All later keep their defaults and do not break it.
		only := func(m map[incident.Rule]int) map[incident.Rule]int {
			maps.DeleteFunc(m, func(k incident.Rule, _ int) bool { _, ok := tt.want[k]; return !ok })
			return m
		}
		if diff := cmp.Diff(tt.want, only(levels(tt.domain))); diff != "" {
			t.Errorf("Levels(%q) mismatch (-want +got):\n%s", tt.domain, diff)
		}
		if diff := cmp.Diff(Thresholds(tt.want), Thresholds(only(c.For(tt.domain)))); diff != "" {
			t.Errorf("For(%q) mismatch (-want +got):\n%s", tt.domain, diff)
		}
	}
}

// Every rule has a unique name, a default at or above its minimum, and a key the doc describes.
func TestAllWellFormed(t *testing.T) {
	seen := map[incident.Rule]bool{}
	for _, r := range All() {
		if seen[r.Name()] {
			t.Errorf("rule %s listed twice in All()", r.Name())
		}
		seen[r.Name()] = true
		if l := r.Level(); l.Default < l.Min || l.Min < 1 {
			t.Errorf("%s Level() = %+v; want 1 <= Min <= Default", r.Name(), l)
		}
		switch r.Key() {
		case KeyUser, KeyAddress, KeyPasswordHash:
		default:
			t.Errorf("%s Key() = %d; not a KeyKind", r.Name(), r.Key())
		}
	}
}
