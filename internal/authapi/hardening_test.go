package authapi

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/allowlist"
	"github.com/vigil-ids/vigil/internal/httpapi"

	"github.com/vigil-ids/vigil/internal/password"
)

// Oversized values in any input field of any endpoint are refused before they reach NATS: the shared connection
// stays up and a normal login still works afterwards. 2,100 bytes is the size that used to close the connection
// (a hex-encoded KV key beyond NATS's control-line limit).
func TestOversizedInputsLeaveServerHealthy(t *testing.T) {
	h := newHarness(t)
	secret, _, _ := h.enroll2FA(h.session(admin, pw))
	ticket := func() string { return h.ticket(admin, pw, myIP) }
	// Each case gets a new admin session: the clock moves an hour between cases, past the idle timeout, and a case
	// answered 401 "unauthenticated" would pass without its value ever reaching the handler.
	session := func(t *testing.T) string {
		t.Helper()
		h.clock.Advance(30 * time.Second) // a step no earlier login used
		r := h.do("POST", "/v1/auth/second-factor", myIP, "", map[string]string{"ticket": ticket(), "code": h.code(secret, 0)})
		tok, _ := r.body["session"].(string)
		if r.code != 200 || tok == "" {
			t.Fatalf("second factor for a new session: %d %s", r.code, r.raw)
		}
		return tok
	}
	type field struct {
		method, path string
		body         func(v string) any
		token        bool
	}
	fields := map[string]field{
		"login username":        {"POST", "/v1/auth/login", func(v string) any { return map[string]string{"username": v, "password": pw} }, false},
		"login password":        {"POST", "/v1/auth/login", func(v string) any { return map[string]string{"username": admin, "password": v} }, false},
		"second-factor ticket":  {"POST", "/v1/auth/second-factor", func(v string) any { return map[string]string{"ticket": "vt_" + v, "code": "123456"} }, false},
		"second-factor code":    {"POST", "/v1/auth/second-factor", func(v string) any { return map[string]string{"ticket": ticket(), "code": v} }, false},
		"second-factor recover": {"POST", "/v1/auth/second-factor", func(v string) any { return map[string]string{"ticket": ticket(), "recovery_code": v} }, false},
		"account username":      {"POST", "/v1/accounts", func(v string) any { return map[string]string{"username": v, "password": pw, "role": RoleViewer} }, true},
		"account password": {"POST", "/v1/accounts", func(v string) any {
			return map[string]string{"username": fmt.Sprintf("x%d", len(v)), "password": v, "role": RoleViewer}
		}, true},
		"account role":          {"POST", "/v1/accounts", func(v string) any { return map[string]string{"username": "x", "password": pw, "role": v} }, true},
		"apikey name":           {"POST", "/v1/apikeys", func(v string) any { return map[string]any{"name": v, "scopes": []string{"read"}} }, true},
		"apikey scope":          {"POST", "/v1/apikeys", func(v string) any { return map[string]any{"name": "n", "scopes": []string{v}} }, true},
		"allowlist prefix":      {"POST", "/v1/allowlist", func(v string) any { return map[string]string{"prefix": v, "description": "d"} }, true},
		"allowlist description": {"POST", "/v1/allowlist", func(v string) any { return map[string]string{"prefix": "198.51.100.0/24", "description": v} }, true},
		"allowlist test":        {"POST", "/v1/allowlist/test", func(v string) any { return map[string]string{"ip": v} }, true},
		"2fa disable code":      {"POST", "/v1/2fa/disable", func(v string) any { return map[string]string{"code": v} }, true},
		"2fa regenerate code":   {"POST", "/v1/2fa/recovery-codes", func(v string) any { return map[string]string{"code": v} }, true},
		"apikey id (path)":      {"DELETE", "/v1/apikeys/%s", nil, true},
		"allowlist id (path)":   {"PUT", "/v1/allowlist/%s", func(string) any { return map[string]string{"prefix": "198.51.100.0/24"} }, true},
		"bearer token":          {"GET", "/v1/me", nil, false},
	}
	for name, f := range fields {
		for _, size := range []int{1 << 10, 2100, 64 << 10, 1 << 20} {
			t.Run(fmt.Sprintf("%s/%d", name, size), func(t *testing.T) {
				v := strings.Repeat("a", size)
				path, bearer, hdr := f.path, "", []string(nil)
				if strings.Contains(path, "%s") {
					path = fmt.Sprintf(path, v[:min(size, 6000)]) // a request line of a megabyte never reaches a handler
				}
				if f.token {
					bearer = session(t)
				}
				if name == "bearer token" {
					bearer = v
				}
				var body any
				if f.body != nil {
					body = f.body(v)
				}
				r := h.do(f.method, path, "198.51.100.7", bearer, body, hdr...)
				switch {
				case name == "account password" && size <= password.MaxLength:
					// A long password within the limit is a valid password: the account is created.
					if r.code != 201 {
						t.Errorf("%s %s with a %d-byte password (the limit is %d): %d %s; want 201", f.method, f.path, size, password.MaxLength, r.code, r.raw)
					}
				case r.code < 400 || r.code >= 500:
					t.Errorf("%s %s with a %d-byte value: %d %s; want a 4xx", f.method, f.path, size, r.code, r.raw)
				}
				if r.code >= 400 && r.errCode() == "" {
					t.Errorf("%s %s: body %q is not the JSON error shape", f.method, f.path, r.raw)
				}
				if !h.nc.IsConnected() {
					t.Fatalf("%s %s with a %d-byte value: NATS connection %v; want connected", f.method, f.path, size, h.nc.Status())
				}
				h.clock.Advance(48 * time.Hour) // past any lock the failures caused, however long it grew
				if got := h.do("POST", "/v1/auth/login", myIP, "", map[string]string{"username": admin, "password": pw}); got.code != 200 {
					t.Fatalf("normal login afterwards: %d %s", got.code, got.raw)
				}
			})
		}
	}
}

// A locked account accepts no code, also not through a session opened before the lock.
func TestLockedAccountRefusesCodesInOldSessions(t *testing.T) {
	h := newHarness(t)
	if err := h.s.CreateAccount(context.Background(), "viewer1", pw, RoleViewer); err != nil {
		t.Fatal(err)
	}
	secret, tok, _ := h.enroll2FA(h.session("viewer1", pw))
	if _, err := h.s.st.updateAccount(context.Background(), "viewer1", func(a *Account) error {
		a.LockedUntil = h.clock.Now().Add(time.Hour)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/2fa/recovery-codes", "/v1/2fa/disable"} {
		h.clock.Advance(30 * time.Second) // a fresh code each time
		r := h.do("POST", path, myIP, tok, map[string]string{"code": h.code(secret, 0)})
		if r.code != 401 || r.errCode() != "invalid_credentials" {
			t.Errorf("POST %s with a valid code while locked: %d %s; want 401 invalid_credentials", path, r.code, r.raw)
		}
	}
	a, _, err := h.s.st.account(context.Background(), "viewer1")
	if err != nil {
		t.Fatal(err)
	}
	if a.TOTP == nil || len(a.Recovery) != recoveryCodes {
		t.Errorf("after refused requests: totp %v, %d recovery codes; want both unchanged", a.TOTP != nil, len(a.Recovery))
	}
}

// After a restart, the cache must not serve an unrestricted list before the stored one arrives.
func TestAllowListRestrictedRightAfterRestart(t *testing.T) {
	h := newHarness(t)
	_, tok, _ := h.enroll2FA(h.session(admin, pw))
	h.do("POST", "/v1/allowlist", myIP, tok, map[string]string{"prefix": myIP, "description": "me"})
	if r := h.do("PUT", "/v1/allowlist/restricted", myIP, tok, map[string]bool{"restricted": true}); r.code != 200 {
		t.Fatalf("restrict: %d %s", r.code, r.raw)
	}
	for i := range 20 {
		h.s = h.start(testKey)
		ctx, cancel := context.WithCancel(context.Background())
		go h.s.Run(ctx)
		if r := h.do("GET", "/v1/allowlist/check", "192.0.2.1", "", nil); r.code != 403 {
			t.Fatalf("restart %d: check from an unlisted address before the watch: %d; want 403", i, r.code)
		}
		deadline := time.Now().Add(2 * time.Second)
		var first *allowlist.List
		for first = h.s.cache.list.Load(); first == nil; first = h.s.cache.list.Load() { // spin: catch the first value
			if time.Now().After(deadline) {
				t.Fatal("the watch stored nothing within 2s")
			}
		}
		if !first.Restricted {
			t.Fatalf("restart %d: the first list the cache served is unrestricted (%+v); want the stored, restricted one", i, first)
		}
		if r := h.do("GET", "/v1/allowlist/check", "192.0.2.1", "", nil); r.code != 403 {
			t.Fatalf("restart %d: check from an unlisted address when the watch opened: %d; want 403", i, r.code)
		}
		cancel()
	}
}

// Bodies over the limit answer 413, trailing data 400.
func TestBodyLimitAndTrailingData(t *testing.T) {
	h := newHarness(t)
	big := `{"username":"root","password":"` + strings.Repeat("a", 16<<10) + `"}`
	if r := h.do("POST", "/v1/auth/login", myIP, "", big); r.code != 413 || r.errCode() != "body_too_large" {
		t.Errorf("login with a %d-byte body: %d %s; want 413 body_too_large", len(big), r.code, r.raw)
	}
	trailing := `{"username":"root","password":"` + pw + `"} {"x":1}`
	if r := h.do("POST", "/v1/auth/login", myIP, "", trailing); r.code != 400 || r.errCode() != "bad_request" {
		t.Errorf("login with trailing data: %d %s; want 400 bad_request", r.code, r.raw)
	}
	if r := h.do("POST", "/v1/auth/login", myIP, "", `{"username":"root","password":"`+pw+`"}`+"\n"); r.code != 200 {
		t.Errorf("login with a trailing newline: %d %s; want 200", r.code, r.raw)
	}
}

// A wrong method answers 405 with Allow, an unknown path 404, both in the JSON error shape.
func TestWrongMethodAndUnknownPath(t *testing.T) {
	h := newHarness(t)
	r := h.do("GET", "/v1/auth/login", myIP, "", nil)
	if r.code != 405 || r.header.Get("Allow") != "POST" || r.errCode() != "method_not_allowed" {
		t.Errorf("GET /v1/auth/login: %d Allow=%q %s; want 405, Allow POST, method_not_allowed", r.code, r.header.Get("Allow"), r.raw)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("405 Content-Type %q; want application/json", ct)
	}
	r = h.do("POST", "/v1/allowlist/check", myIP, "", nil)
	if r.code != 405 || !strings.Contains(r.header.Get("Allow"), "GET") {
		t.Errorf("POST /v1/allowlist/check: %d Allow=%q; want 405, Allow with GET", r.code, r.header.Get("Allow"))
	}
	r = h.do("GET", "/v1/nothing-here", myIP, "", nil)
	if r.code != 404 || r.errCode() != "not_found" {
		t.Errorf("GET /v1/nothing-here: %d %s; want 404 not_found", r.code, r.raw)
	}
}

// /readyz and /metrics obey the admin allow list; /healthz stays open.
func TestOpsEndpointsBehindAllowList(t *testing.T) {
	h := newHarness(t)
	_, tok, _ := h.enroll2FA(h.session(admin, pw))
	h.do("POST", "/v1/allowlist", myIP, tok, map[string]string{"prefix": myIP, "description": "me"})
	if r := h.do("PUT", "/v1/allowlist/restricted", myIP, tok, map[string]bool{"restricted": true}); r.code != 200 {
		t.Fatalf("restrict: %d %s", r.code, r.raw)
	}
	ops := http.NewServeMux()
	httpapi.Ops(ops, prometheus.NewRegistry())
	hd := h.s.WithOps(ops)
	get := func(path, ip string) int {
		req := httptest.NewRequest("GET", path, nil)
		req.RemoteAddr = ip + ":40000"
		rec := httptest.NewRecorder()
		hd.ServeHTTP(rec, req)
		return rec.Code
	}
	for _, c := range []struct {
		path, ip string
		want     int
	}{
		{"/healthz", "192.0.2.1", 200}, {"/readyz", "192.0.2.1", 403}, {"/metrics", "192.0.2.1", 403},
		{"/readyz", myIP, 200}, {"/metrics", myIP, 200}, {"/v1/me", "192.0.2.1", 403},
	} {
		if got := get(c.path, c.ip); got != c.want {
			t.Errorf("GET %s from %s: %d; want %d", c.path, c.ip, got, c.want)
		}
	}
}

// A KV outage during login answers 503 and is logged, not a silent 401.
func TestLoginDuringStoreOutage(t *testing.T) {
	h := newHarness(t)
	if err := h.js.DeleteKeyValue(context.Background(), bucketAccounts); err != nil {
		t.Fatal(err)
	}
	r := h.do("POST", "/v1/auth/login", myIP, "", map[string]string{"username": admin, "password": pw})
	if r.code != 503 || r.errCode() != "store_unavailable" {
		t.Errorf("login with the accounts bucket gone: %d %s; want 503 store_unavailable", r.code, r.raw)
	}
	if !strings.Contains(h.logs.String(), "status=503") {
		t.Errorf("the outage is not logged; logs:\n%s", h.logs)
	}
	if strings.Contains(h.logs.String(), pw) {
		t.Error("the password is in the log")
	}
}

// /v1/2fa/confirm checks the code before it spends ten argon2id hashes on recovery codes.
func TestConfirmChecksCodeBeforeHashing(t *testing.T) {
	h := newHarness(t)
	tok := h.session(admin, pw)
	if r := h.do("POST", "/v1/2fa/enroll", myIP, tok, nil); r.code != 200 {
		t.Fatalf("enroll: %d %s", r.code, r.raw)
	}
	for _, code := range []string{"000000", "12345", strings.Repeat("9", 100)} {
		if r := h.do("POST", "/v1/2fa/confirm", myIP, tok, map[string]string{"code": code}); r.code != 401 {
			t.Errorf("confirm with %q: %d %s; want 401", code, r.code, r.raw)
		}
	}
	if n := h.s.recoverySets.Load(); n != 0 {
		t.Errorf("recovery code sets hashed after wrong codes: %d; want 0", n)
	}
}

// Names with control characters or invalid UTF-8 are refused before they are stored or logged.
func TestNamesMustBePrintable(t *testing.T) {
	h := newHarness(t)
	_, tok, _ := h.enroll2FA(h.session(admin, pw))
	for _, name := range []string{"a\nb", "a\x1bb", "a\u200bb", "a\u0085b"} {
		if r := h.do("POST", "/v1/apikeys", myIP, tok, map[string]any{"name": name, "scopes": []string{"read"}}); r.code != 400 {
			t.Errorf("API key name %q: %d %s; want 400", name, r.code, r.raw)
		}
		if r := h.do("POST", "/v1/accounts", myIP, tok, map[string]string{"username": name, "password": pw, "role": RoleViewer}); r.code != 400 || r.errCode() != "bad_account" {
			t.Errorf("account name %q: %d %s; want 400 bad_account", name, r.code, r.raw)
		}
		if r := h.do("POST", "/v1/auth/login", myIP, "", map[string]string{"username": name, "password": pw}); r.code != 401 {
			t.Errorf("login as %q: %d %s; want 401", name, r.code, r.raw)
		}
	}
	if r := h.do("POST", "/v1/apikeys", myIP, tok, map[string]any{"name": "backup script ünïcode", "scopes": []string{"read"}}); r.code != 201 {
		t.Errorf("a printable API key name: %d %s; want 201", r.code, r.raw)
	}
}
