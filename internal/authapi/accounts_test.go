package authapi

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/chstore"
)

func TestConsoleAccounts(t *testing.T) {
	c := newConsole(t)
	r := c.do("GET", "/v1/accounts", myIP, c.root, nil)
	if r.code != 200 || strings.Contains(r.raw, "password") || strings.Contains(r.raw, "secret") {
		t.Fatalf("list accounts: %d %s", r.code, r.raw)
	}
	var names []string
	for _, a := range r.body["accounts"].([]any) {
		m := a.(map[string]any)
		names = append(names, m["username"].(string)+":"+m["role"].(string))
		if m["username"] == c.subUser && (len(m["domains"].([]any)) != 1 || m["domains"].([]any)[0] != "example.org" || m["totp_enabled"] != true) {
			t.Errorf("sub-admin row = %v; want domains [example.org], 2FA on", m)
		}
	}
	if strings.Join(names, " ") != "ann:sub-admin root:admin vic:viewer" {
		t.Errorf("accounts = %v", names)
	}
	for _, tok := range []string{c.sub, c.viewer} {
		if r := c.do("GET", "/v1/accounts", myIP, tok, nil); r.code != 403 {
			t.Errorf("non-admin lists accounts: %d; want 403", r.code)
		}
	}

	// Limit the viewer to other.net: it sees that domain's incident only.
	if r := c.do("PUT", "/v1/accounts/"+c.viewUser+"/domains", myIP, c.root, map[string]any{"domains": []string{"OTHER.net", "other.net"}}); r.code != 200 || len(r.body["domains"].([]any)) != 1 {
		t.Fatalf("set domains: %d %s", r.code, r.raw)
	}
	if r := c.do("GET", "/v1/incidents", myIP, c.viewer, nil); strings.Join(incidentIDs(r), " ") != c.incC.ID {
		t.Errorf("limited viewer's incidents = %v; want other.net's", incidentIDs(r))
	}
	if r := c.do("GET", "/v1/audit-log", myIP, c.viewer, nil); r.code != 403 {
		t.Errorf("a domain-limited account reads the audit log: %d; want 403", r.code)
	}
	for _, tt := range []struct {
		path string
		body any
		code int
	}{
		{"/v1/accounts/" + admin + "/domains", map[string]any{"domains": []string{"example.org"}}, 400},
		{"/v1/accounts/nobody/domains", map[string]any{"domains": []string{"example.org"}}, 404},
		{"/v1/accounts/" + c.viewUser + "/domains", map[string]any{"domains": []string{"bad domain"}}, 400},
		{"/v1/accounts/" + c.viewUser + "/domains", map[string]any{}, 400},
	} {
		if r := c.do("PUT", tt.path, myIP, c.root, tt.body); r.code != tt.code {
			t.Errorf("PUT %s %v: %d %s; want %d", tt.path, tt.body, r.code, r.raw, tt.code)
		}
	}
	if r := c.do("PUT", "/v1/accounts/"+c.viewUser+"/domains", myIP, c.sub, map[string]any{"domains": []string{}}); r.code != 403 {
		t.Errorf("sub-admin sets domains: %d; want 403", r.code)
	}
	if r := c.do("POST", "/v1/accounts", myIP, c.root, map[string]any{"username": "boss", "password": pw, "role": RoleAdmin, "domains": []string{"example.org"}}); r.code != 400 {
		t.Errorf("an admin with a domain limit: %d; want 400", r.code)
	}
}

func TestConsoleResetTwoFA(t *testing.T) {
	c := newConsole(t)
	if r := c.do("POST", "/v1/accounts/"+admin+"/reset-2fa", myIP, c.root, nil); r.code != 400 {
		t.Errorf("reset own 2FA: %d; want 400", r.code)
	}
	if r := c.do("POST", "/v1/accounts/"+admin+"/reset-2fa", myIP, c.sub, nil); r.code != 403 {
		t.Errorf("sub-admin resets the admin's 2FA: %d; want 403", r.code)
	}
	key := c.do("POST", "/v1/apikeys", myIP, c.root, map[string]any{"name": "ops", "scopes": []string{"read", "accounts"}}).body["key"].(string)
	if r := c.do("POST", "/v1/accounts/"+c.subUser+"/reset-2fa", myIP, key, nil); r.code != 403 {
		t.Errorf("reset 2FA with an API key: %d; want 403 (interactive sessions only)", r.code)
	}
	if r := c.do("POST", "/v1/accounts/"+c.subUser+"/reset-2fa", myIP, c.root, nil); r.code != 204 {
		t.Fatalf("reset 2FA: %d %s", r.code, r.raw)
	}
	if r := c.do("GET", "/v1/me", myIP, c.sub, nil); r.code != 401 {
		t.Errorf("the reset account's old session: %d; want 401", r.code)
	}
	r := c.do("POST", "/v1/auth/login", myIP, "", map[string]string{"username": c.subUser, "password": pw})
	if r.code != 200 || r.body["enrollment_required"] != true {
		t.Errorf("login after the reset: %d %s; want a session that must enroll", r.code, r.raw)
	}
	if r := c.do("POST", "/v1/accounts/nobody/reset-2fa", myIP, c.root, nil); r.code != 404 {
		t.Errorf("reset an unknown account: %d; want 404", r.code)
	}
	found := false
	for _, a := range c.audit.records {
		if a.Action == "2fa_reset" && a.Actor == admin && a.Target == c.subUser {
			found = true
		}
	}
	if !found {
		t.Error("the reset is not audited")
	}
}

func TestConsoleAPIKeysList(t *testing.T) {
	c := newConsole(t)
	c.do("POST", "/v1/apikeys", myIP, c.sub, map[string]any{"name": "sub key", "scopes": []string{"read", "trusted"}})
	c.do("POST", "/v1/apikeys", myIP, c.root, map[string]any{"name": "root key", "scopes": []string{"read"}})
	names := func(tok string) string {
		r := c.do("GET", "/v1/apikeys", myIP, tok, nil)
		if r.code != 200 || strings.Contains(r.raw, "vk_") {
			t.Fatalf("list keys: %d %s (must never show a key)", r.code, r.raw)
		}
		var out []string
		for _, k := range r.body["keys"].([]any) {
			out = append(out, k.(map[string]any)["name"].(string))
		}
		return strings.Join(out, ",")
	}
	if got := names(c.sub); got != "sub key" {
		t.Errorf("sub-admin's keys = %q; want its own", got)
	}
	if got := names(c.root); got != "sub key,root key" {
		t.Errorf("admin's keys = %q; want all", got)
	}
	if r := c.do("POST", "/v1/apikeys", myIP, c.sub, map[string]any{"name": "x", "scopes": []string{"accounts"}}); r.code != 400 {
		t.Errorf("sub-admin key with the accounts scope: %d; want 400", r.code)
	}
}

func TestConsoleAuditLogRoute(t *testing.T) {
	c := newConsole(t)
	now := c.clock.Now()
	if err := c.ch.WriteAudit(context.Background(), []chstore.AuditRow{
		{EventID: "e1", Time: now.Add(-time.Hour), Action: "login_success", Actor: admin, ClientIP: myIP, Target: admin, Result: "success"},
		{EventID: "e2", Time: now, Action: "trusted_network_add", Actor: c.subUser, ClientIP: myIP, Target: "0123456789abcdef", Result: "success"},
	}); err != nil {
		t.Fatal(err)
	}
	r := c.do("GET", "/v1/audit-log?actor=ann", myIP, c.root, nil)
	entries, _ := r.body["entries"].([]any)
	if r.code != 200 || len(entries) != 1 || entries[0].(map[string]any)["action"] != "trusted_network_add" || entries[0].(map[string]any)["client_ip"] != myIP {
		t.Errorf("audit log for ann: %d %s", r.code, r.raw)
	}
	if r := c.do("GET", "/v1/audit-log", myIP, c.viewer, nil); r.code != 200 || r.body["total"] != 2.0 {
		t.Errorf("viewer's audit log: %d %s; want both rows", r.code, r.raw)
	}
	if r := c.do("GET", "/v1/audit-log", myIP, c.sub, nil); r.code != 403 {
		t.Errorf("domain-limited sub-admin's audit log: %d; want 403", r.code)
	}
}

// Without ClickHouse the console's routes answer 503 with a precise code, never a 500.
func TestConsoleUnavailable(t *testing.T) {
	h := newHarness(t)
	_, tok, _ := h.enroll2FA(h.session(admin, pw))
	for _, path := range []string{"/v1/incidents", "/v1/incidents/summary", "/v1/users/a@example.org/logins", "/v1/trusted-networks", "/v1/audit-log"} {
		if r := h.do("GET", path, myIP, tok, nil); r.code != 503 || r.errCode() != "console_unavailable" {
			t.Errorf("GET %s without a console: %d %s; want 503 console_unavailable", path, r.code, r.raw)
		}
	}
	c := newConsole(t)
	c.ch.Close() // ClickHouse gone
	if r := c.do("GET", "/v1/incidents", myIP, c.root, nil); r.code != 503 || r.errCode() != "history_unavailable" {
		t.Errorf("GET /v1/incidents with ClickHouse gone: %d %s; want 503 history_unavailable", r.code, r.raw)
	}
	if strings.Contains(c.do("GET", "/v1/incidents", myIP, c.root, nil).raw, "clickhouse:") {
		t.Error("the error leaks internal detail")
	}
}
