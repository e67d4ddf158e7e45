package mailbox2fa

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzParseUser: the {user} path value never yields an address that is empty, too long, upper-case or holds a
// character that could break a KV key, a mail header or a log line.
func FuzzParseUser(f *testing.F) {
	for _, s := range []string{"alice@example.org", "A@B.C", "a@b", "@x", "a@", "a b@c", "a@b..c", "a\r\n@b", "ä@b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, d, ok := parseUser(s)
		if !ok {
			return
		}
		if u == "" || len(u) > maxAddress || u != strings.ToLower(u) || !strings.HasSuffix(u, "@"+d) || strings.ContainsAny(u, " \r\n\t\"'<>,;:") {
			t.Errorf("parseUser(%q) = %q, %q", s, u, d)
		}
	})
}

// FuzzVerifyBody: any body is either refused or yields exactly one code of at most 64 bytes.
func FuzzVerifyBody(f *testing.F) {
	for _, s := range []string{`{"code":"123456"}`, `{"backup_code":"abcd-efgh-ijkm-npqr"}`, `{"email_code":"1","client_ip":"::ffff:1.2.3.4"}`, `{}`, `{"code":1}`, `[]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		var req verifyRequest
		if decode(r, &req) != nil {
			return
		}
		method, code, ip, err := parseVerify(&req)
		if err != nil {
			return
		}
		if method == "" || code == "" || len(code) > 64 || (ip.IsValid() && ip.Is4In6()) {
			t.Errorf("parseVerify(%s) = %q %q %v", body, method, code, ip)
		}
		if method == "email" && wellFormedCode(code) && len(code) != 6 {
			t.Errorf("wellFormedCode(%q) = true", code)
		}
	})
}

// FuzzParsePolicies: an accepted setting holds only valid domains and policies.
func FuzzParsePolicies(f *testing.F) {
	for _, s := range []string{"example.org=required", "a.b=off, c.d=optional", "x=maybe", "=required", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParsePolicies(s)
		if err != nil {
			return
		}
		for d, p := range m {
			if !validDomain(d) || !validPolicy(p) {
				t.Errorf("ParsePolicies(%q) accepted %q=%q", s, d, p)
			}
		}
	})
}
