package rule

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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
	if got := c.For("a.org"); !cmp.Equal(got, Thresholds{"multi_country": 2, "send_volume": 50}) {
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
