package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/authapi"
	"github.com/vigil-ids/vigil/internal/console"
	"github.com/vigil-ids/vigil/internal/password"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// served is the console mounted on a real auth API (in-process NATS), as the node mounts it.
type served struct {
	t   *testing.T
	api *authapi.Server
	h   http.Handler
}

func newServed(t *testing.T) *served {
	t.Helper()
	js, err := jetstream.New(testenv.Connect(t, testenv.NATS(t)))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	api, err := authapi.New(context.Background(), js, bytes.Repeat([]byte{9}, 32),
		authapi.Options{Password: password.Params{MemoryKiB: 64, Time: 1, Threads: 1}, Require2FA: []string{}}, nil, logger, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := api.CreateAccount(context.Background(), "root", adminPW, authapi.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	con, err := console.New(api.Handler(), logger)
	if err != nil {
		t.Fatal(err)
	}
	return &served{t: t, api: api, h: api.WithConsole(nil, con)}
}

// do sends a request from ip with the cookies given; form is sent url-encoded when not nil.
func (s *served) do(method, path, ip string, cookies []*http.Cookie, form url.Values, hdr ...string) *http.Response {
	s.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, "http://vigil.test"+path, body)
	req.RemoteAddr = ip + ":40000"
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	return rec.Result()
}

func readBody(r *http.Response) string { b, _ := io.ReadAll(r.Body); return string(b) }

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn signs root in through the console's form and returns the browser's cookies.
func (s *served) signIn(ip string) []*http.Cookie {
	s.t.Helper()
	r := s.do("GET", "/login", ip, nil, nil)
	cookies := r.Cookies()
	tok := csrfInput.FindStringSubmatch(readBody(r))
	if tok == nil {
		s.t.Fatal("the sign-in page has no CSRF token")
	}
	r = s.do("POST", "/login", ip, cookies, url.Values{"csrf": {tok[1]}, "username": {"root"}, "password": {adminPW}})
	if r.StatusCode != http.StatusSeeOther {
		s.t.Fatalf("POST /login = %d %s; want 303", r.StatusCode, readBody(r))
	}
	return merge(cookies, r.Cookies())
}

// merge is what a browser keeps: set cookies replace those of the same name.
func merge(have, set []*http.Cookie) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range have {
		replaced := false
		for _, n := range set {
			replaced = replaced || n.Name == c.Name
		}
		if !replaced {
			out = append(out, c)
		}
	}
	return append(out, set...)
}

func TestPageHeaders(t *testing.T) {
	s := newServed(t)
	cookies := s.signIn("127.0.0.1")
	for _, path := range []string{"/login", "/", "/console/allowlist", "/console/2fa"} {
		cks := cookies
		if path == "/login" {
			cks = nil // signed in, /login sends the browser home
		}
		r := s.do("GET", path, "127.0.0.1", cks, nil)
		if r.StatusCode != 200 {
			t.Errorf("GET %s = %d; want 200", path, r.StatusCode)
		}
		body := readBody(r)
		if path == "/" && !strings.Contains(body, "Cannot tell whether there are new incidents") {
			t.Errorf("GET / without the incident history (this server has no ClickHouse) does not say so")
		}
		csp := r.Header.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: Content-Security-Policy %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") {
			t.Errorf("GET %s: Content-Security-Policy %q allows inline code", path, csp)
		}
		if got := r.Header.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("GET %s: X-Frame-Options = %q; want DENY", path, got)
		}
		if got := r.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("GET %s: Cache-Control = %q; want no-store", path, got)
		}
		if strings.Contains(body, "<script>") || regexp.MustCompile(`\son[a-z]+=`).MatchString(body) {
			t.Errorf("GET %s has inline script", path)
		}
	}
	for _, c := range cookies {
		if c.Name == "vigil_session" && (!c.HttpOnly || c.SameSite != http.SameSiteStrictMode || !c.Secure) {
			t.Errorf("session cookie %+v; want HttpOnly, SameSite=Strict, Secure", c)
		}
		if c.Name == "vigil_csrf" && (!c.HttpOnly || c.SameSite != http.SameSiteStrictMode) {
			t.Errorf("CSRF cookie %+v; want HttpOnly, SameSite=Strict", c)
		}
	}
}

func TestCSRF(t *testing.T) {
	s := newServed(t)
	cookies := s.signIn("127.0.0.1")
	page := readBody(s.do("GET", "/console/allowlist", "127.0.0.1", cookies, nil))
	tok := csrfInput.FindStringSubmatch(page)[1]
	add := func(form url.Values, hdr ...string) int {
		form.Set("prefix", "192.0.2.0/24")
		form.Set("description", "test")
		return s.do("POST", "/console/allowlist/add", "127.0.0.1", cookies, form, hdr...).StatusCode
	}
	for name, tc := range map[string]struct {
		form url.Values
		hdr  []string
	}{
		"no token":         {url.Values{}, nil},
		"wrong token":      {url.Values{"csrf": {tok[:len(tok)-2] + "AA"}}, nil},
		"other origin":     {url.Values{"csrf": {tok}}, []string{"Origin", "https://evil.example"}},
		"cross-site fetch": {url.Values{"csrf": {tok}}, []string{"Sec-Fetch-Site", "cross-site"}},
	} {
		if code := add(tc.form, tc.hdr...); code != http.StatusForbidden {
			t.Errorf("%s: POST = %d; want 403", name, code)
		}
	}
	// another session's token does not fit this one
	other := s.signIn("127.0.0.1")
	otherTok := csrfInput.FindStringSubmatch(readBody(s.do("GET", "/console/allowlist", "127.0.0.1", other, nil)))[1]
	if code := add(url.Values{"csrf": {otherTok}}); code != http.StatusForbidden {
		t.Errorf("another session's token: POST = %d; want 403", code)
	}
	if code := add(url.Values{"csrf": {tok}}, "Origin", "https://admin.example", "X-Forwarded-Host", "admin.example"); code != http.StatusSeeOther {
		t.Errorf("valid token through a proxy that rewrites Host: POST = %d; want 303", code)
	}
	if code := add(url.Values{"csrf": {tok}}, "Origin", "http://vigil.test"); code != http.StatusBadRequest {
		t.Errorf("valid token, the same range again: POST = %d; want 400 (a duplicate, past the CSRF check)", code)
	}
}

// TestAllowListCoversConsole: once restricted, an address outside the list reaches no console page either.
func TestAllowListCoversConsole(t *testing.T) {
	s := newServed(t)
	cookies := s.signIn("127.0.0.1")
	tok := csrfInput.FindStringSubmatch(readBody(s.do("GET", "/console/allowlist", "127.0.0.1", cookies, nil)))[1]
	for _, f := range []url.Values{{"prefix": {"127.0.0.1"}, "description": {"me"}}} {
		f.Set("csrf", tok)
		if r := s.do("POST", "/console/allowlist/add", "127.0.0.1", cookies, f); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("add = %d %s", r.StatusCode, readBody(r))
		}
	}
	if r := s.do("POST", "/console/allowlist/restrict", "127.0.0.1", cookies, url.Values{"csrf": {tok}, "restricted": {"true"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("restrict = %d %s", r.StatusCode, readBody(r))
	}
	for _, path := range []string{"/login", "/", "/console/static/console.css", "/console/incidents"} {
		r := s.do("GET", path, "198.51.100.7", nil, nil)
		var e struct {
			Error struct{ Code string } `json:"error"`
		}
		json.Unmarshal([]byte(readBody(r)), &e)
		if r.StatusCode != http.StatusForbidden || e.Error.Code != "forbidden" {
			t.Errorf("GET %s from outside the list = %d %q; want 403 forbidden", path, r.StatusCode, e.Error.Code)
		}
	}
	if r := s.do("GET", "/console/allowlist", "127.0.0.1", cookies, nil); r.StatusCode != 200 {
		t.Errorf("GET /console/allowlist from the listed address = %d; want 200", r.StatusCode)
	}
}

var secretText = regexp.MustCompile(`id="totp-secret">([A-Z2-7 ]+)<`)

// TestTwoFactorDisable: a role that 2FA is not required for enrolls through the wizard and turns 2FA off with a
// current code; a wrong code is refused.
func TestTwoFactorDisable(t *testing.T) {
	s := newServed(t) // no role requires 2FA here
	cookies := s.signIn("127.0.0.1")
	form := func(path string, v url.Values) *http.Response {
		t.Helper()
		tok := csrfInput.FindStringSubmatch(readBody(s.do("GET", "/console/2fa", "127.0.0.1", cookies, nil)))[1]
		v.Set("csrf", tok)
		return s.do("POST", path, "127.0.0.1", cookies, v)
	}
	r := form("/console/2fa/enroll", url.Values{})
	m := secretText.FindStringSubmatch(readBody(r))
	if r.StatusCode != 200 || m == nil {
		t.Fatalf("enroll = %d without the secret on the page", r.StatusCode)
	}
	if got := r.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("the page with the secret has Cache-Control %q; want no-store", got)
	}
	auth := newAuthenticator(t, m[1])
	r = form("/console/2fa/confirm", url.Values{"code": {auth.code(t)}})
	if b := readBody(r); r.StatusCode != 200 || !strings.Contains(b, `id="backup-codes"`) {
		t.Fatalf("confirm = %d without backup codes", r.StatusCode)
	}
	cookies = merge(cookies, r.Cookies()) // confirming rotates the session
	if r := form("/console/2fa/disable", url.Values{"code": {"000000"}}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("disable with a wrong code = %d; want 401", r.StatusCode)
	}
	r = form("/console/2fa/disable", url.Values{"code": {auth.code(t)}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/console/2fa?done=disabled" {
		t.Fatalf("disable = %d %s; want 303 to /console/2fa?done=disabled", r.StatusCode, r.Header.Get("Location"))
	}
	if b := readBody(s.do("GET", "/console/2fa?done=disabled", "127.0.0.1", cookies, nil)); !strings.Contains(b, "Step 1: before you start") {
		t.Error("after disabling, the 2FA page does not offer enrollment again")
	}
}
