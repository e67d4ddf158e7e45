package authapi

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/testenv"
	"github.com/vigil-ids/vigil/internal/trustkv"
)

func TestSafePrefixWidths(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.7": "198.51.100.7/32", "198.51.100.7/31": "198.51.100.6/31", "198.51.100.7/24": "198.51.100.0/24",
		"198.51.100.7/22": "198.51.100.0/22", "198.51.100.7/17": "198.51.0.0/17", "198.51.100.7/21": "", "198.51.100.7/18": "",
		"198.51.100.7/16": "", "2001:db8:1:2::7": "2001:db8:1:2::7/128", "2001:db8:1:2::7/64": "2001:db8:1:2::/64",
		"2001:db8::/32": "2001:db8::/32", "2001:db8::/65": "", "2001:db8::/31": "", "::ffff:198.51.100.7": "198.51.100.7/32",
		"": "", "198.51.100": "", "01.2.3.4": "", "example.org": "",
	} {
		t.Run(in, func(t *testing.T) {
			p, err := safePrefix(in)
			got := ""
			if err == nil {
				got = p.String()
			}
			if got != want {
				t.Errorf("safePrefix(%q) = %q, %v; want %q", in, got, err, want)
			}
		})
	}
}

// Mark as safe from a Last Logins row: the detector's watcher sees the range within a second; removal undoes it.
func TestConsoleMarkSafe(t *testing.T) {
	c := newConsole(t)
	w := trustkv.NewWatcher(c.trust, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	<-w.Ready()

	ip := netip.MustParseAddr("198.51.100.7")
	r := c.do("POST", "/v1/trusted-networks", myIP, c.sub, map[string]any{"prefix": "198.51.100.7/24", "user": "Alice@example.org", "description": "home DSL"})
	if r.code != 201 || r.body["scope"] != "user" || r.body["subject"] != "alice@example.org" || r.body["prefix"] != "198.51.100.0/24" || r.body["created_by"] != c.subUser {
		t.Fatalf("mark safe: %d %s", r.code, r.raw)
	}
	id := r.body["id"].(string)
	start := time.Now()
	testenv.Eventually(t, time.Second, "the detector's watcher trusts the range", func() bool { return w.Set().Trusted("alice@example.org", "example.org", ip) })
	t.Logf("trusted after %v", time.Since(start))
	if w.Set().Trusted("bob@example.org", "example.org", ip) {
		t.Error("a user-scoped range trusts another user")
	}
	if r := c.do("POST", "/v1/trusted-networks", myIP, c.sub, map[string]any{"prefix": "198.51.100.0/24", "user": "alice@example.org", "description": "again"}); r.code != 409 {
		t.Errorf("a duplicate: %d %s; want 409", r.code, r.raw)
	}
	for _, tt := range []struct {
		name  string
		token string
		body  map[string]any
		code  int
	}{
		{"no description", c.sub, map[string]any{"prefix": "192.0.2.1", "user": "alice@example.org"}, 400},
		{"too wide", c.sub, map[string]any{"prefix": "192.0.2.0/20", "user": "alice@example.org", "description": "x"}, 400},
		{"no user", c.sub, map[string]any{"prefix": "192.0.2.1", "description": "x"}, 400},
		{"bad scope", c.sub, map[string]any{"prefix": "192.0.2.1", "scope": "planet", "user": "alice@example.org", "description": "x"}, 400},
		{"another domain's user", c.sub, map[string]any{"prefix": "192.0.2.1", "user": "carol@other.net", "description": "x"}, 403},
		{"another domain", c.sub, map[string]any{"prefix": "192.0.2.1", "scope": "domain", "domain": "other.net", "description": "x"}, 403},
		{"everyone, as sub-admin", c.sub, map[string]any{"prefix": "192.0.2.1", "scope": "global", "description": "x"}, 403},
		{"viewer", c.viewer, map[string]any{"prefix": "192.0.2.1", "user": "alice@example.org", "description": "x"}, 403},
		{"long description", c.sub, map[string]any{"prefix": "192.0.2.1", "user": "alice@example.org", "description": strings.Repeat("x", 201)}, 400},
		{"domain of the user", c.sub, map[string]any{"prefix": "2001:db8:5::/48", "scope": "domain", "user": "bob@example.org", "description": "office"}, 201},
		{"everyone, as admin", c.root, map[string]any{"prefix": "203.0.112.0/22", "scope": "global", "description": "provider NAT"}, 201},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if r := c.do("POST", "/v1/trusted-networks", myIP, tt.token, tt.body); r.code != tt.code {
				t.Errorf("POST %v: %d %s; want %d", tt.body, r.code, r.raw, tt.code)
			}
		})
	}
	testenv.Eventually(t, time.Second, "the domain-scoped range trusts another user of the domain", func() bool {
		return w.Set().Trusted("zoe@example.org", "example.org", netip.MustParseAddr("2001:db8:5::1"))
	})

	// The list: the sub-admin sees its domain's ranges only (not the global one); search and domain filter.
	list := func(token, q string) []string {
		r := c.do("GET", "/v1/trusted-networks"+q, myIP, token, nil)
		if r.code != 200 {
			t.Fatalf("GET /v1/trusted-networks%s: %d %s", q, r.code, r.raw)
		}
		out := []string{}
		for _, n := range r.body["networks"].([]any) {
			out = append(out, n.(map[string]any)["prefix"].(string))
		}
		return out
	}
	if got := list(c.sub, ""); strings.Join(got, " ") != "2001:db8:5::/48 198.51.100.0/24" {
		t.Errorf("sub-admin's list = %v; want its domain's and its user's range", got)
	}
	if got := list(c.root, ""); len(got) != 3 {
		t.Errorf("admin's list = %v; want all 3", got)
	}
	if got := list(c.root, "?domain=example.org&q=dsl"); strings.Join(got, " ") != "198.51.100.0/24" {
		t.Errorf("search = %v; want the home DSL range", got)
	}
	if got := list(c.viewer, "?scope=global"); strings.Join(got, " ") != "203.0.112.0/22" {
		t.Errorf("scope filter = %v; want the global range", got)
	}

	// Removal.
	if r := c.do("DELETE", "/v1/trusted-networks/"+id, myIP, c.viewer, nil); r.code != 403 {
		t.Errorf("viewer delete: %d; want 403", r.code)
	}
	if r := c.do("DELETE", "/v1/trusted-networks/nothex", myIP, c.sub, nil); r.code != 400 {
		t.Errorf("bad id: %d; want 400", r.code)
	}
	if r := c.do("DELETE", "/v1/trusted-networks/"+id, myIP, c.sub, nil); r.code != 204 {
		t.Fatalf("delete: %d %s", r.code, r.raw)
	}
	testenv.Eventually(t, time.Second, "the watcher drops the range", func() bool { return !w.Set().Trusted("alice@example.org", "example.org", ip) })
	if r := c.do("DELETE", "/v1/trusted-networks/"+id, myIP, c.sub, nil); r.code != 404 {
		t.Errorf("delete twice: %d; want 404", r.code)
	}
	var audited []string
	for _, a := range c.audit.actions() {
		if strings.HasPrefix(a, "trusted_network") {
			audited = append(audited, a)
		}
	}
	if strings.Join(audited, " ") != "trusted_network_add trusted_network_add trusted_network_add trusted_network_remove" {
		t.Errorf("audited = %v", audited)
	}
}

// FuzzSafePrefix: any input is refused or gives a canonical range of an allowed width.
func FuzzSafePrefix(f *testing.F) {
	for _, s := range []string{"198.51.100.7/24", "2001:db8::/48", "::ffff:1.2.3.4/120", "1.2.3.4/17", "1.2.3.4/16", "", "/", "1.2.3.4/033"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := safePrefix(s)
		if err != nil {
			return
		}
		b := p.Bits()
		ok := p == p.Masked() && (p.Addr().Is4() && (b == 32 || b == 17 || (b >= 22 && b <= 31)) || p.Addr().Is6() && !p.Addr().Is4In6() && (b == 128 || (b >= 32 && b <= 64)))
		if !ok {
			t.Errorf("safePrefix(%q) = %v; not an allowed canonical range", s, p)
		}
	})
}
