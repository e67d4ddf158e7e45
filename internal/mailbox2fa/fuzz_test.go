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

// FuzzParseStepUps: an accepted setting holds only valid domains and step-up policies.
func FuzzParseStepUps(f *testing.F) {
	for _, s := range []string{"example.org=deny", "a.b=email, c.d=allow", "x=sms", "=deny", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseStepUps(s)
		if err != nil {
			return
		}
		for d, p := range m {
			if !validDomain(d) || !validStepUp(p) {
				t.Errorf("ParseStepUps(%q) accepted %q=%q", s, d, p)
			}
		}
	})
}

// FuzzStatusQuery: the status's query string is refused or yields one valid address (without client_ip: the
// caller's, which the auth API's middleware sets), never a panic.
func FuzzStatusQuery(f *testing.F) {
	for _, s := range []string{"client_ip=198.51.100.7", "client_ip=::ffff:1.2.3.4", "client_ip=x", "a=b", "client_ip=1.1.1.1&client_ip=2.2.2.2", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		r := httptest.NewRequest("GET", "/v1/mailbox-2fa/alice@example.org", nil)
		r.URL.RawQuery = q
		ip, err := clientIPParam(r)
		if err == nil && r.URL.Query().Has("client_ip") && (!ip.IsValid() || ip.Is4In6()) {
			t.Errorf("clientIPParam(%q) = %v without an error", q, ip)
		}
	})
}
