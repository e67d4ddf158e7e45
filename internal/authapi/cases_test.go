package authapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// Case 2: malformed code input gets a 4xx with the common error shape, never a 500 or a panic.
func TestCodeInputs(t *testing.T) {
	h := newHarness(t)
	tok := h.session(admin, pw)
	h.enroll2FA(tok)
	for _, c := range []string{`""`, `"12345"`, `"1234567"`, `"abcdef"`, `"+12345"`, `"12 345"`, `"12\u000034"`, `"１２３４５６"`, `"١٢٣٤٥٦"`,
		`"` + strings.Repeat("1", 10<<10) + `"`, `123456`, `[1,2]`, `null`, `{"a":1}`} {
		ticket := h.ticket(admin, pw, "198.51.100."+fmt.Sprint(len(c)%200))
		r := h.do("POST", "/v1/auth/second-factor", myIP, "", `{"ticket":"`+ticket+`","code":`+c+`}`)
		if r.code < 400 || r.code >= 500 || r.errCode() == "" {
			t.Errorf("code %.20s: %d %s; want a 4xx error body", c, r.code, r.raw)
		}
		h.clock.Advance(time.Minute) // keep the lockout out of the way of this case
		h.s.st.updateAccount(context.Background(), admin, func(a *Account) error { a.Failures, a.LockedUntil = 0, time.Time{}; return nil })
	}
}

// Case 3: replay.
func TestReplay(t *testing.T) {
	h := newHarness(t)
	secret, _, _ := h.enroll2FA(h.session(admin, pw))
	// The enrollment confirmation code cannot be reused to log in.
	enrolCode := h.code(secret, 0)
	if r := h.do("POST", "/v1/auth/second-factor", myIP, "", map[string]string{"ticket": h.ticket(admin, pw, myIP), "code": enrolCode}); r.code != 401 {
		t.Errorf("the enrollment code at login: %d; want 401", r.code)
	}
	h.clock.Advance(30 * time.Second)
	code := h.code(secret, 0)
	if r := h.do("POST", "/v1/auth/second-factor", myIP, "", map[string]string{"ticket": h.ticket(admin, pw, myIP), "code": code}); r.code != 200 {
		t.Fatalf("fresh code: %d %s", r.code, r.raw)
	}
	if r := h.do("POST", "/v1/auth/second-factor", myIP, "", map[string]string{"ticket": h.ticket(admin, pw, myIP), "code": code}); r.code != 401 {
		t.Errorf("the same code twice: %d; want 401", r.code)
	}
	if r := h.do("POST", "/v1/auth/second-factor", myIP, "", map[string]string{"ticket": h.ticket(admin, pw, myIP), "code": h.code(secret, -1)}); r.code != 401 {
		t.Errorf("the T-1 code after T was used: %d; want 401", r.code)
	}
	// Two concurrent logins with one code: exactly one succeeds.
	h.clock.Advance(30 * time.Second)
	code = h.code(secret, 0)
	tickets := []string{h.ticket(admin, pw, myIP), h.ticket(admin, pw, myIP), h.ticket(admin, pw, myIP), h.ticket(admin, pw, myIP)}
	var wg sync.WaitGroup
	results := make(chan int, len(tickets))
	for _, tk := range tickets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- h.do("POST", "/v1/auth/second-factor", myIP, "", map[string]string{"ticket": tk, "code": code}).code
		}()
	}
	wg.Wait()
	close(results)
	ok := 0
	for c := range results {
		if c == 200 {
			ok++
		}
	}
	if ok != 1 {
		t.Errorf("%d concurrent logins with one code succeeded; want exactly 1", ok)
	}
}

// Case 4: brute force.
func TestBruteForce(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.IPLimit = 1000 })
	secret, _, _ := h.enroll2FA(h.session(admin, pw))
	// Ten wrong codes from ten addresses lock the account; then even the right code fails.
	for i := range 10 {
		h.do("POST", "/v1/auth/second-factor", myIP, "", map[string]string{"ticket": h.ticket(admin, pw, fmt.Sprintf("198.51.100.%d", i)), "code": "000000"})
	}
	h.clock.Advance(30 * time.Second)
	r := h.do("POST", "/v1/auth/login", "192.0.2.1", "", map[string]string{"username": admin, "password": pw})
	if r.code != 401 || r.errCode() != "invalid_credentials" {
		t.Fatalf("login of a locked account: %d %s; want 401 invalid_credentials", r.code, r.raw)
	}
	// Across a restart (a new server on the same NATS data).
	h.s = h.start(testKey)
	if r := h.do("POST", "/v1/auth/login", myIP, "", map[string]string{"username": admin, "password": pw}); r.code != 401 {
		t.Fatalf("after a restart the lock is gone: %d", r.code)
	}
	// The lock ends (growing backoff); a success resets the counter.
	h.clock.Advance(2 * time.Minute)
	tk := h.ticket(admin, pw, myIP)
	if r := h.do("POST", "/v1/auth/second-factor", myIP, "", map[string]string{"ticket": tk, "code": h.code(secret, 0)}); r.code != 200 {
		t.Fatalf("after the lock: %d %s", r.code, r.raw)
	}
	a, _, _ := h.s.st.account(context.Background(), admin)
	if a.Failures != 0 {
		t.Errorf("failures after a success = %d; want 0", a.Failures)
	}
	// One counter shared by login, second factor, confirm, disable and recovery.
	h.s.CreateAccount(context.Background(), "viewer1", pw, RoleViewer)
	vt := h.session("viewer1", pw)
	h.do("POST", "/v1/2fa/enroll", myIP, vt, nil)
	h.do("POST", "/v1/2fa/confirm", myIP, vt, map[string]string{"code": "000000"})                                    // confirm
	h.do("POST", "/v1/auth/login", myIP, "", map[string]string{"username": "viewer1", "password": "wrong password!"}) // login
	a, _, _ = h.s.st.account(context.Background(), "viewer1")
	if a.Failures != 2 {
		t.Errorf("failures after a wrong confirm and a wrong password = %d; want 2 (one shared counter)", a.Failures)
	}
}

func TestIPThrottle(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.IPLimit = 5 })
	var last resp
	for i := range 8 { // spraying many accounts from one address
		last = h.do("POST", "/v1/auth/login", "192.0.2.50", "", map[string]string{"username": fmt.Sprintf("user%d", i), "password": "guess guess guess"})
	}
	if last.code != 429 || last.header.Get("Retry-After") == "" || last.errCode() != "too_many_requests" {
		t.Errorf("spraying: %d Retry-After=%q %s; want 429 with Retry-After", last.code, last.header.Get("Retry-After"), last.raw)
	}
	if r := h.do("POST", "/v1/auth/login", myIP, "", map[string]string{"username": admin, "password": pw}); r.code != 200 {
		t.Errorf("another address is not throttled: %d", r.code)
	}
}

// Case 5: enrollment.
func TestEnrollment(t *testing.T) {
	h := newHarness(t)
	tok := h.session(admin, pw)
	other := h.session(admin, pw)
	r := h.do("POST", "/v1/2fa/enroll", myIP, tok, nil)
	if r.header.Get("Cache-Control") != "no-store" || r.body["otpauth_uri"] == nil || r.body["qr_png_base64"] == nil {
		t.Fatalf("enroll: %v %s", r.header, r.raw)
	}
	old := decodeSecret(t, r.body["secret"].(string))
	h.clock.Advance(11 * time.Minute) // the pending secret expired
	if r := h.do("POST", "/v1/2fa/confirm", myIP, tok, map[string]string{"code": h.code(old, 0)}); r.code != 401 {
		t.Errorf("confirm after expiry: %d; want 401", r.code)
	}
	r = h.do("POST", "/v1/2fa/enroll", myIP, tok, nil)
	first := decodeSecret(t, r.body["secret"].(string))
	r = h.do("POST", "/v1/2fa/enroll", myIP, tok, nil) // a new enrollment replaces the previous pending secret
	second := decodeSecret(t, r.body["secret"].(string))
	if r := h.do("POST", "/v1/2fa/confirm", myIP, tok, map[string]string{"code": h.code(first, 0)}); r.code != 401 {
		t.Errorf("confirm with the replaced secret: %d; want 401", r.code)
	}
	r = h.do("POST", "/v1/2fa/confirm", myIP, tok, map[string]string{"code": h.code(second, 0)})
	if r.code != 200 {
		t.Fatalf("confirm: %d %s", r.code, r.raw)
	}
	newTok := r.body["session"].(string)
	if newTok == tok {
		t.Error("the session id did not change at activation")
	}
	if r := h.do("GET", "/v1/me", myIP, other, nil); r.code != 401 {
		t.Errorf("another session after enrolling: %d; want 401 (ended)", r.code)
	}
	if r := h.do("POST", "/v1/2fa/enroll", myIP, newTok, nil); r.code != 409 || strings.Contains(r.raw, "secret\"") {
		t.Errorf("the secret is shown again after activation: %d %s", r.code, r.raw)
	}
}

// Case 6: login.
func TestLoginSteps(t *testing.T) {
	h := newHarness(t)
	secret, _, _ := h.enroll2FA(h.session(admin, pw))
	h.clock.Advance(30 * time.Second)
	tk := h.ticket(admin, pw, myIP)
	for _, path := range []string{"/v1/me", "/v1/allowlist"} {
		if r := h.do("GET", path, myIP, tk, nil); r.code != 401 {
			t.Errorf("the second-factor ticket reached %s: %d", path, r.code)
		}
	}
	r := h.do("POST", "/v1/auth/second-factor", myIP, "", map[string]string{"ticket": tk, "code": h.code(secret, 0)})
	if r.code != 200 || r.body["session"] == tk || !strings.Contains(r.header.Get("Set-Cookie"), "HttpOnly") || !strings.Contains(r.header.Get("Set-Cookie"), "SameSite=Strict") {
		t.Fatalf("second factor: %d %v %s", r.code, r.header, r.raw)
	}
	if r := h.do("POST", "/v1/auth/second-factor", myIP, "", map[string]string{"ticket": tk, "code": h.code(secret, 1)}); r.code != 401 {
		t.Errorf("a used ticket: %d; want 401", r.code)
	}
	tk2 := h.ticket(admin, pw, myIP)
	h.clock.Advance(6 * time.Minute)
	if r := h.do("POST", "/v1/auth/second-factor", myIP, "", map[string]string{"ticket": tk2, "code": h.code(secret, 0)}); r.code != 401 {
		t.Errorf("an expired ticket: %d; want 401", r.code)
	}
	// The same error for unknown user, wrong password, wrong code and locked account.
	bodies := map[string]string{}
	bodies["unknown"] = h.do("POST", "/v1/auth/login", myIP, "", map[string]string{"username": "nobody", "password": pw}).raw
	bodies["password"] = h.do("POST", "/v1/auth/login", myIP, "", map[string]string{"username": admin, "password": "wrong wrong wrong"}).raw
	bodies["code"] = h.do("POST", "/v1/auth/second-factor", myIP, "", map[string]string{"ticket": h.ticket(admin, pw, myIP), "code": "000000"}).raw
	h.s.st.updateAccount(context.Background(), admin, func(a *Account) error { a.LockedUntil = h.clock.Now().Add(time.Hour); return nil })
	bodies["locked"] = h.do("POST", "/v1/auth/login", myIP, "", map[string]string{"username": admin, "password": pw}).raw
	for k, v := range bodies {
		if v != bodies["unknown"] {
			t.Errorf("%s failure answers %s; unknown user answers %s", k, v, bodies["unknown"])
		}
	}
}

// Similar timing: an unknown user costs a password hash like a known one.
func TestLoginTiming(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.IPLimit = 1000; o.Password = passwordDefault() })
	h.s.CreateAccount(context.Background(), "timed", pw, RoleViewer)
	measure := func(user string) time.Duration {
		best := time.Hour
		for range 3 {
			start := time.Now()
			h.do("POST", "/v1/auth/login", myIP, "", map[string]string{"username": user, "password": "wrong wrong wrong"})
			best = min(best, time.Since(start))
		}
		return best
	}
	known, unknown := measure("timed"), measure("nosuchuser")
	if unknown < known/3 {
		t.Errorf("unknown user answered in %s, a known one in %s: the difference reveals accounts", unknown, known)
	}
}

// Case 7: disable.
func TestDisable(t *testing.T) {
	h := newHarness(t)
	h.s.CreateAccount(context.Background(), "viewer1", pw, RoleViewer)
	secret, tok, _ := h.enroll2FA(h.session("viewer1", pw))
	h.clock.Advance(30 * time.Second)
	if r := h.do("POST", "/v1/2fa/disable", myIP, tok, map[string]string{"code": h.code(secret, -2)}); r.code != 401 {
		t.Errorf("disable with an old code: %d; want 401", r.code)
	}
	if r := h.do("POST", "/v1/2fa/disable", myIP, tok, map[string]string{"code": h.code(secret, 0)}); r.code != 204 {
		t.Fatalf("disable: %d %s", r.code, r.raw)
	}
	// An admin (role requiring 2FA) cannot switch it off.
	asecret, atok, _ := h.enroll2FA(h.session(admin, pw))
	if r := h.do("POST", "/v1/2fa/disable", myIP, atok, map[string]string{"code": h.code(asecret, 1)}); r.code != 403 {
		t.Errorf("an admin disabling 2FA: %d; want 403", r.code)
	}
	// And a role that requires 2FA reaches nothing before enrolling.
	h.s.CreateAccount(context.Background(), "sub1", pw, RoleSubAdmin)
	st := h.session("sub1", pw)
	if r := h.do("GET", "/v1/allowlist", myIP, st, nil); r.code != 403 || r.errCode() != "enrollment_required" {
		t.Errorf("an unenrolled sub-admin: %d %s; want 403 enrollment_required", r.code, r.raw)
	}
}

// Case 8: recovery codes.
func TestRecoveryCodes(t *testing.T) {
	h := newHarness(t)
	secret, tok, codes := h.enroll2FA(h.session(admin, pw))
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes; want 10", len(codes))
	}
	for _, c := range codes {
		if len(strings.ReplaceAll(c, "-", "")) < 13 { // 16 base32 characters = 80 bits
			t.Errorf("recovery code %q is shorter than 64 bits", c)
		}
	}
	a, _, _ := h.s.st.account(context.Background(), admin)
	for i, hsh := range a.Recovery {
		if !strings.HasPrefix(hsh, "$argon2id$") || strings.Contains(hsh, codes[i]) {
			t.Errorf("recovery code %d stored as %q; want an argon2id hash", i, hsh)
		}
	}
	// Single use, also under concurrency.
	var wg sync.WaitGroup
	results := make(chan int, 4)
	for range 4 {
		tk := h.ticket(admin, pw, myIP)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- h.do("POST", "/v1/auth/second-factor", myIP, "", map[string]string{"ticket": tk, "recovery_code": codes[0]}).code
		}()
	}
	wg.Wait()
	close(results)
	ok := 0
	for c := range results {
		if c == 200 {
			ok++
		}
	}
	if ok != 1 {
		t.Errorf("one recovery code worked %d times; want 1", ok)
	}
	// Regeneration needs a valid code and invalidates the whole previous set.
	h.clock.Advance(30 * time.Second)
	if r := h.do("POST", "/v1/2fa/recovery-codes", myIP, tok, map[string]string{"code": "000000"}); r.code != 401 {
		t.Errorf("regenerate with a wrong code: %d", r.code)
	}
	r := h.do("POST", "/v1/2fa/recovery-codes", myIP, tok, map[string]string{"code": h.code(secret, 0)})
	if r.code != 200 || len(r.body["recovery_codes"].([]any)) != 10 {
		t.Fatalf("regenerate: %d %s", r.code, r.raw)
	}
	if r := h.do("POST", "/v1/auth/second-factor", myIP, "", map[string]string{"ticket": h.ticket(admin, pw, myIP), "recovery_code": codes[1]}); r.code != 401 {
		t.Errorf("an old recovery code after regeneration: %d; want 401", r.code)
	}
	if !strings.Contains(strings.Join(h.audit.actions(), " "), "recovery_codes_regenerated") {
		t.Error("regeneration not audited")
	}
}

// Case 9: API keys.
func TestAPIKeys(t *testing.T) {
	h := newHarness(t)
	_, tok, _ := h.enroll2FA(h.session(admin, pw))
	r := h.do("POST", "/v1/apikeys", myIP, tok, map[string]any{"name": "monitoring", "scopes": []string{"read"}})
	key, _ := r.body["key"].(string)
	if r.code != 201 || !strings.HasPrefix(key, "vk_") {
		t.Fatalf("create key: %d %s", r.code, r.raw)
	}
	if r := h.do("GET", "/v1/me", myIP, key, nil); r.code != 200 || r.body["api_key"] != true {
		t.Errorf("read with a read key: %d %s", r.code, r.raw)
	}
	for _, c := range []struct{ method, path string }{{"POST", "/v1/2fa/enroll"}, {"POST", "/v1/2fa/disable"}, {"GET", "/v1/allowlist"}, {"POST", "/v1/apikeys"}, {"POST", "/v1/accounts"}} {
		if r := h.do(c.method, c.path, myIP, key, map[string]string{}); r.code != 403 {
			t.Errorf("%s %s with a read key: %d; want 403", c.method, c.path, r.code)
		}
	}
	r = h.do("POST", "/v1/apikeys", myIP, tok, map[string]any{"name": "automation", "scopes": []string{"allowlist"}})
	alKey := r.body["key"].(string)
	if r := h.do("GET", "/v1/allowlist", myIP, alKey, nil); r.code != 200 {
		t.Errorf("allow list with an allowlist key: %d", r.code)
	}
	// An API key opens no interactive session, and the password of a 2FA account is no API credential.
	if r := h.do("POST", "/v1/auth/login", myIP, "", map[string]string{"username": admin, "password": key}); r.code != 401 {
		t.Errorf("an API key as a password: %d", r.code)
	}
	if r := h.do("GET", "/v1/me", myIP, "", nil, "Authorization", "Basic cm9vdDpjb3JyZWN0IGhvcnNlIGJhdHRlcnkgc3RhcGxl"); r.code != 401 {
		t.Errorf("basic auth with the password: %d", r.code)
	}
	id := r.body["id"]
	_ = id
	keys := h.do("POST", "/v1/apikeys", myIP, tok, map[string]any{"name": "temp", "scopes": []string{"read"}})
	if r := h.do("DELETE", "/v1/apikeys/"+keys.body["id"].(string), myIP, tok, nil); r.code != 204 {
		t.Errorf("revoke: %d", r.code)
	}
	if r := h.do("GET", "/v1/me", myIP, keys.body["key"].(string), nil); r.code != 401 {
		t.Errorf("a revoked key: %d; want 401", r.code)
	}
}

// Case 10: the allow list.
func TestAllowList(t *testing.T) {
	h := newHarness(t)
	_, tok, _ := h.enroll2FA(h.session(admin, pw))
	restrict := func(on bool, ip string) resp {
		return h.do("PUT", "/v1/allowlist/restricted", ip, tok, map[string]bool{"restricted": on})
	}
	if r := restrict(true, myIP); r.code != 409 {
		t.Errorf("restricting an empty list: %d; want 409", r.code)
	}
	r := h.do("POST", "/v1/allowlist", myIP, tok, map[string]string{"prefix": "198.51.100.7/24", "description": "office"})
	if r.code != 200 || !strings.Contains(r.raw, "198.51.100.0/24") {
		t.Fatalf("add: %d %s; want a canonical prefix", r.code, r.raw)
	}
	for _, bad := range []string{"1.2.3", "01.2.3.4", "0x7f.0.0.1", "1.2.3.4/33", "::1/129", "fe80::1%eth0", "2130706433", "example.org"} {
		if r := h.do("POST", "/v1/allowlist", myIP, tok, map[string]string{"prefix": bad, "description": "x"}); r.code != 400 {
			t.Errorf("add %q: %d; want 400", bad, r.code)
		}
	}
	if r := restrict(true, myIP); r.code != 409 {
		t.Errorf("restricting while not covered: %d; want 409", r.code)
	}
	r = h.do("POST", "/v1/allowlist", myIP, tok, map[string]string{"prefix": "203.0.113.0/24", "description": "home"})
	var homeID string
	for _, e := range r.body["entries"].([]any) {
		if e.(map[string]any)["description"] == "home" {
			homeID = e.(map[string]any)["id"].(string)
		}
	}
	h.do("POST", "/v1/allowlist", myIP, tok, map[string]string{"prefix": "2001:db8:1::/48", "description": "v6 office"})
	if r := restrict(true, "::ffff:"+myIP); r.code != 200 {
		t.Fatalf("restricting while covered (IPv4-mapped peer): %d %s", r.code, r.raw)
	}
	if r := h.do("GET", "/v1/me", "192.0.2.1", tok, nil); r.code != 403 {
		t.Errorf("an address outside the list: %d; want 403", r.code)
	}
	if r := h.do("POST", "/v1/auth/login", "192.0.2.1", "", map[string]string{"username": admin, "password": pw}); r.code != 403 {
		t.Errorf("login from outside the list: %d; want 403", r.code)
	}
	if r := h.do("GET", "/v1/me", "2001:db8:1::9", tok, nil); r.code != 200 {
		t.Errorf("IPv6 inside the list: %d", r.code)
	}
	if r := h.do("DELETE", "/v1/allowlist/"+homeID, myIP, tok, nil); r.code != 409 {
		t.Errorf("deleting the caller's own entry while restricted: %d; want 409", r.code)
	}
	if r := h.do("GET", "/v1/allowlist/check", myIP, "", nil); r.code != 204 {
		t.Errorf("check from inside: %d; want 204", r.code)
	}
	if r := h.do("GET", "/v1/allowlist/check", "192.0.2.1", "", nil); r.code != 403 {
		t.Errorf("check from outside: %d; want 403", r.code)
	}
	r = h.do("POST", "/v1/allowlist/test", myIP, tok, map[string]string{"ip": "192.0.2.1"})
	if r.code != 200 || r.body["allowed"] != false {
		t.Errorf("test: %d %s", r.code, r.raw)
	}
	if r := restrict(false, myIP); r.code != 200 || len(r.body["entries"].([]any)) != 3 {
		t.Errorf("unrestricted mode keeps the list: %d %s", r.code, r.raw)
	}
	if r := h.do("GET", "/v1/me", "192.0.2.1", tok, nil); r.code != 200 {
		t.Errorf("unrestricted: %d", r.code)
	}
	var changes int
	for _, a := range h.audit.records {
		if strings.HasPrefix(a.Action, "allowlist_") && a.Result == "success" {
			changes++
			if a.Actor != admin || a.ClientIP != myIP || a.After == "" {
				t.Errorf("audit record %+v lacks actor, address or after", a)
			}
		}
	}
	if changes < 5 {
		t.Errorf("%d allow-list changes audited; want every change", changes)
	}
}

// The allow list fails closed when it cannot be read.
func TestAllowListFailsClosed(t *testing.T) {
	h := newHarness(t)
	if err := h.js.DeleteKeyValue(context.Background(), bucketConfig); err != nil {
		t.Fatal(err)
	}
	if r := h.do("POST", "/v1/auth/login", myIP, "", map[string]string{"username": admin, "password": pw}); r.code != 503 {
		t.Errorf("login with the list unreadable: %d; want 503", r.code)
	}
	if r := h.do("GET", "/v1/allowlist/check", myIP, "", nil); r.code == 204 {
		t.Error("check allowed with the list unreadable")
	}
}

// Case 11: the client address.
func TestClientAddress(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.TrustedProxies = "10.0.0.0/24"; o.IPLimit = 3 })
	// Through the trusted proxy the right-most untrusted X-Forwarded-For address is the client: rate limits and
	// audit use it.
	for range 4 {
		h.do("POST", "/v1/auth/login", "10.0.0.5", "", map[string]string{"username": "x", "password": "y"}, "X-Forwarded-For", "6.6.6.6, 198.51.100.77")
	}
	if r := h.do("POST", "/v1/auth/login", "10.0.0.5", "", map[string]string{"username": "x", "password": "y"}, "X-Forwarded-For", "198.51.100.77"); r.code != 429 {
		t.Errorf("the derived address is not rate limited: %d", r.code)
	}
	if r := h.do("POST", "/v1/auth/login", "10.0.0.5", "", map[string]string{"username": admin, "password": pw}, "X-Forwarded-For", "198.51.100.78"); r.code != 200 {
		t.Errorf("another client behind the proxy: %d", r.code)
	}
	found := false
	for _, a := range h.audit.records {
		if a.ClientIP == "198.51.100.77" {
			found = true
		}
		if a.ClientIP == "6.6.6.6" || a.ClientIP == "10.0.0.5" {
			t.Errorf("audit uses %s, not the derived client address", a.ClientIP)
		}
	}
	if !found {
		t.Error("no audit record carries the derived address")
	}
	// Without trusting the peer, a spoofed header is ignored.
	h2 := newHarness(t, func(o *Options) { o.IPLimit = 2 })
	for i := range 3 {
		h2.do("POST", "/v1/auth/login", "192.0.2.9", "", map[string]string{"username": "x", "password": "y"}, "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i))
	}
	if r := h2.do("POST", "/v1/auth/login", "192.0.2.9", "", map[string]string{"username": "x", "password": "y"}, "X-Forwarded-For", "198.51.100.99"); r.code != 429 {
		t.Errorf("a spoofed header escaped the per-address limit: %d", r.code)
	}
}

// Case 12: secrets.
func TestSecrets(t *testing.T) {
	h := newHarness(t)
	secret, _, codes := h.enroll2FA(h.session(admin, pw))
	// A wrong key is a start-up error.
	if _, err := New(context.Background(), h.js, bytes.Repeat([]byte{9}, 32), h.opts, nil, h.s.logger, nil); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("New with another key = %v; want ErrKeyMismatch", err)
	}
	// The secret is stored encrypted and bound to the account: copied to another account it does not decrypt.
	a, _, _ := h.s.st.account(context.Background(), admin)
	if bytes.Contains(a.TOTP.SecretEnc, secret) {
		t.Fatal("TOTP secret stored in clear")
	}
	h.s.CreateAccount(context.Background(), "mallory", pw, RoleViewer)
	h.s.st.updateAccount(context.Background(), "mallory", func(m *Account) error { m.TOTP = a.TOTP; return nil })
	h.clock.Advance(30 * time.Second)
	if r := h.do("POST", "/v1/auth/second-factor", myIP, "", map[string]string{"ticket": h.ticket("mallory", pw, myIP), "code": h.code(secret, 0)}); r.code == 200 {
		t.Error("a secret copied to another account works there")
	}
	// Nothing secret in the logs.
	logs := h.logs.String()
	for _, s := range append([]string{pw, h.code(secret, 0), h.code(secret, -1)}, codes...) {
		if strings.Contains(logs, s) {
			t.Errorf("the logs contain a secret: %q", s)
		}
	}
}

func TestAdminLoginsAreEvents(t *testing.T) {
	h := newHarness(t)
	h.session(admin, pw)
	h.do("POST", "/v1/auth/login", "198.51.100.3", "", map[string]string{"username": admin, "password": "wrong wrong wrong"})
	got := strings.Join(h.audit.logins, ";")
	if !strings.Contains(got, "root 203.0.113.9 ok") || !strings.Contains(got, "root 198.51.100.3 fail") {
		t.Errorf("admin login events = %s", got)
	}
}

func TestRotateKey(t *testing.T) {
	h := newHarness(t)
	secret, _, _ := h.enroll2FA(h.session(admin, pw))
	newKey := bytes.Repeat([]byte{8}, 32)
	if _, err := RotateKey(context.Background(), h.js, newKey, newKey); err == nil {
		t.Error("rotation from a key that is not in use succeeded")
	}
	n, err := RotateKey(context.Background(), h.js, testKey, newKey)
	if err != nil || n != 1 {
		t.Fatalf("RotateKey = %d, %v", n, err)
	}
	if _, err := New(context.Background(), h.js, testKey, h.opts, nil, h.s.logger, nil); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("the old key after rotation: %v; want ErrKeyMismatch", err)
	}
	h.s = h.start(newKey)
	h.clock.Advance(30 * time.Second)
	if r := h.do("POST", "/v1/auth/second-factor", myIP, "", map[string]string{"ticket": h.ticket(admin, pw, myIP), "code": h.code(secret, 0)}); r.code != 200 {
		t.Errorf("login after rotation: %d %s", r.code, r.raw)
	}
}

func TestReadPasswordFromStdin(t *testing.T) {
	got, err := ReadPassword(strings.NewReader("s3cret password\nignored\n"), io.Discard)
	if err != nil || got != "s3cret password" {
		t.Errorf("ReadPassword = %q, %v", got, err)
	}
}

// With Run, the allow list is served from a watched cache that follows every change within moments.
func TestAllowListCacheFollowsChanges(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.s.Run(ctx)
	_, tok, _ := h.enroll2FA(h.session(admin, pw))
	h.do("POST", "/v1/allowlist", myIP, tok, map[string]string{"prefix": myIP, "description": "me"})
	h.do("PUT", "/v1/allowlist/restricted", myIP, tok, map[string]bool{"restricted": true})
	deadline := time.Now().Add(2 * time.Second)
	for h.do("GET", "/v1/allowlist/check", "192.0.2.1", "", nil).code != 403 {
		if time.Now().After(deadline) {
			t.Fatal("the cached list did not follow the restriction within 2s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r := h.do("GET", "/v1/allowlist/check", myIP, "", nil); r.code != 204 {
		t.Errorf("check from inside: %d", r.code)
	}
}

func BenchmarkAllowlistCheck(b *testing.B) {
	h := newHarness(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.s.Run(ctx)
	for h.s.cache.list.Load() == nil {
		time.Sleep(time.Millisecond)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := h.do("GET", "/v1/allowlist/check", myIP, "", nil); r.code != 204 {
			b.Fatal(r.code)
		}
	}
}

func BenchmarkSecondFactorVerify(b *testing.B) {
	h := newHarness(b)
	secret, _, _ := h.enroll2FA(h.session(admin, pw))
	b.ReportAllocs()
	for b.Loop() {
		h.clock.Advance(30 * time.Second)
		if err := h.s.checkCode(context.Background(), admin, h.code(secret, 0)); err != nil {
			b.Fatal(err)
		}
	}
}
