package netset

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestParsePrefix(t *testing.T) {
	good := map[string]string{
		"10.0.0.5/24":           "10.0.0.0/24",
		"81.2.69.142":           "81.2.69.142/32",
		"2001:DB8::1/48":        "2001:db8::/48",
		"2001:db8::1":           "2001:db8::1/128",
		"::ffff:1.2.3.4/120":    "1.2.3.0/24",
		"::ffff:1.2.3.4":        "1.2.3.4/32",
		"0.0.0.0/0":             "0.0.0.0/0",
		"203.0.113.255/32":      "203.0.113.255/32",
		"fe80::1/64":            "fe80::/64",
		"2a00:1450:4001::1/128": "2a00:1450:4001::1/128",
	}
	for in, want := range good {
		t.Run(in, func(t *testing.T) {
			got, err := ParsePrefix(in)
			if err != nil || got.String() != want {
				t.Errorf("ParsePrefix(%q) = %v, %v; want %s", in, got, err, want)
			}
		})
	}
	for _, in := range []string{"", "1.2.3", "01.2.3.4", "1.2.3.04/24", "0x7f.0.0.1", "2130706433", "localhost",
		"fe80::1%eth0", "1.2.3.4/33", "::1/129", "1.2.3.4/", "1.2.3.4/024", "1.2.3.4/-1", "1.2.3.4/x", " 1.2.3.4",
		"1.2.3.4/24/8", "::ffff:1.2.3.4/64", strings.Repeat("1", 70), "1.2.3.4 /24"} {
		t.Run(fmt.Sprintf("%q", in), func(t *testing.T) {
			if p, err := ParsePrefix(in); err == nil {
				t.Errorf("ParsePrefix(%q) = %v; want an error", in, p)
			}
		})
	}
}

func TestCheckTrusted(t *testing.T) {
	for in, ok := range map[string]bool{"10.0.0.0/17": true, "10.0.0.0/16": false, "1.2.3.4/32": true,
		"2001:db8::/32": true, "2001:db8::/31": false, "::/0": false, "0.0.0.0/0": false} {
		t.Run(in, func(t *testing.T) {
			err := CheckTrusted(netip.MustParsePrefix(in))
			if (err == nil) != ok {
				t.Errorf("CheckTrusted(%s) = %v; want ok=%v", in, err, ok)
			}
		})
	}
}

func TestEntryValidate(t *testing.T) {
	p := netip.MustParsePrefix("203.0.113.0/24")
	tests := []struct {
		e    Entry
		want string
	}{
		{Entry{Scope: ScopeGlobal, Prefix: p, Description: "office"}, ""},
		{Entry{Scope: ScopeDomain, Subject: "Example.ORG ", Prefix: p, Description: "vpn"}, ""},
		{Entry{Scope: ScopeUser, Subject: "alice@example.org", Prefix: netip.MustParsePrefix("203.0.113.7/24"), Description: "home"}, ""},
		{Entry{Scope: ScopeGlobal, Prefix: p}, "description is required"},
		{Entry{Scope: ScopeGlobal, Subject: "x", Prefix: p, Description: "d"}, "no subject"},
		{Entry{Scope: ScopeUser, Prefix: p, Description: "d"}, "needs a subject"},
		{Entry{Scope: ScopeDomain, Subject: "a@b", Prefix: p, Description: "d"}, "must not contain @"},
		{Entry{Scope: "planet", Prefix: p, Description: "d"}, "scope"},
		{Entry{Scope: ScopeGlobal, Prefix: netip.MustParsePrefix("10.0.0.0/8"), Description: "d"}, "wider than /17"},
		{Entry{Scope: ScopeGlobal, Prefix: p, Description: strings.Repeat("x", 201)}, "at most 200"},
		{Entry{Scope: ScopeGlobal, Prefix: p, Description: "a\nb"}, "control"},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d_%s", i, tt.want), func(t *testing.T) {
			err := tt.e.Normalise()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Normalise(%+v) = %v; want %q", tt.e, err, tt.want)
			}
		})
	}
	e := Entry{Scope: ScopeUser, Subject: " Alice@Example.org", Prefix: netip.MustParsePrefix("203.0.113.7/24"), Description: " home "}
	if err := e.Normalise(); err != nil || e.Subject != "alice@example.org" || e.Prefix.String() != "203.0.113.0/24" || e.Description != "home" {
		t.Errorf("Normalise = %+v, %v", e, err)
	}
}

func TestSetScopes(t *testing.T) {
	s := NewSet([]Entry{
		{Scope: ScopeGlobal, Prefix: netip.MustParsePrefix("198.51.100.0/24")},
		{Scope: ScopeDomain, Subject: "example.org", Prefix: netip.MustParsePrefix("203.0.113.0/25")},
		{Scope: ScopeUser, Subject: "alice@example.org", Prefix: netip.MustParsePrefix("2001:db8:1::/48")},
		{Scope: ScopeUser, Subject: "alice@example.org", Prefix: netip.MustParsePrefix("192.0.2.7/32")},
	})
	tests := []struct {
		user, domain, ip string
		want             bool
	}{
		{"x@y.org", "y.org", "198.51.100.1", true},          // global
		{"x@y.org", "y.org", "::ffff:198.51.100.255", true}, // mapped
		{"x@y.org", "y.org", "198.51.101.0", false},
		{"bob@example.org", "example.org", "203.0.113.127", true},
		{"bob@example.org", "example.org", "203.0.113.128", false}, // just past the /25
		{"x@other.org", "other.org", "203.0.113.1", false},         // another domain
		{"alice@example.org", "example.org", "2001:db8:1:ffff::1", true},
		{"bob@example.org", "example.org", "2001:db8:1::1", false}, // alice's range only
		{"alice@example.org", "example.org", "2001:db8:2::1", false},
		{"alice@example.org", "example.org", "192.0.2.7", true},
		{"alice@example.org", "example.org", "192.0.2.8", false},
		{"alice@example.org", "example.org", "::c000:207", false}, // IPv4-compatible is not IPv4
	}
	for _, tt := range tests {
		t.Run(tt.user+"_"+tt.ip, func(t *testing.T) {
			if got := s.Trusted(tt.user, tt.domain, netip.MustParseAddr(tt.ip)); got != tt.want {
				t.Errorf("Trusted(%s, %s, %s) = %v; want %v", tt.user, tt.domain, tt.ip, got, tt.want)
			}
		})
	}
	var nilSet *Set
	if nilSet.Trusted("a", "b", netip.MustParseAddr("1.1.1.1")) || NewSet(nil).Len() != 0 || s.Len() != 4 {
		t.Error("nil or empty sets must trust nothing")
	}
}

func TestSetOverlapsMerge(t *testing.T) {
	s := NewSet([]Entry{
		{Scope: ScopeGlobal, Prefix: netip.MustParsePrefix("10.0.0.0/24")},
		{Scope: ScopeGlobal, Prefix: netip.MustParsePrefix("10.0.0.128/25")},
		{Scope: ScopeGlobal, Prefix: netip.MustParsePrefix("10.0.1.0/24")},
		{Scope: ScopeGlobal, Prefix: netip.MustParsePrefix("10.0.3.0/24")},
	})
	for ip, want := range map[string]bool{"10.0.0.200": true, "10.0.1.255": true, "10.0.2.1": false, "10.0.3.9": true, "9.255.255.255": false} {
		t.Run(ip, func(t *testing.T) {
			if got := s.Trusted("", "", netip.MustParseAddr(ip)); got != want {
				t.Errorf("Trusted(%s) = %v; want %v", ip, got, want)
			}
		})
	}
}

func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{"10.0.0.5/24", "::ffff:1.2.3.4/120", "2001:db8::/32", "1.2.3", "01.2.3.4", "1.2.3.4/33"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePrefix(s)
		if err != nil {
			return
		}
		again, err := ParsePrefix(p.String())
		if err != nil || again != p {
			t.Fatalf("ParsePrefix(%q) = %v, but it re-parses to %v, %v", s, p, again, err)
		}
		if p != p.Masked() || p.Addr().Is4In6() {
			t.Fatalf("ParsePrefix(%q) = %v is not canonical", s, p)
		}
	})
}

func BenchmarkTrusted(b *testing.B) {
	var es []Entry
	for i := range 10000 {
		es = append(es, Entry{Scope: ScopeUser, Subject: fmt.Sprintf("u%d@example.org", i%1000), Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)})
	}
	s := NewSet(es)
	ip := netip.MustParseAddr("10.3.4.5")
	b.ReportAllocs()
	for b.Loop() {
		s.Trusted("u7@example.org", "example.org", ip)
	}
}
