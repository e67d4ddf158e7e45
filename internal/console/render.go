package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// page is what every template gets.
type page struct {
	Title  string
	Path   string
	Me     *account
	CSRF   string
	Error  string
	Notice string
	Data   any
}

// account is the signed-in admin as GET /v1/me describes it.
type account struct {
	Username           string `json:"username"`
	Role               string `json:"role"`
	TOTPEnabled        bool   `json:"totp_enabled"`
	EnrollmentRequired bool   `json:"enrollment_required"`
	Requires2FA        bool   `json:"2fa_required"`
	ClientIP           string `json:"client_ip"`
}

// CanAct reports whether the role may change things (viewers only look).
func (a *account) CanAct() bool { return a != nil && a.Role != "viewer" }

// IsAdmin reports the admin role.
func (a *account) IsAdmin() bool { return a != nil && a.Role == "admin" }

// me asks the API who the browser's session belongs to; nil without a valid session.
func (c *Console) me(r *http.Request) (*account, error) {
	if sessionToken(r) == "" {
		return nil, nil
	}
	a, err := c.call(r, "GET", "/v1/me", nil)
	if err != nil {
		return nil, err
	}
	if a.Status == http.StatusUnauthorized {
		return nil, nil
	}
	if !a.OK() {
		return nil, apiError(a)
	}
	var m account
	if err := a.Decode(&m); err != nil {
		return nil, err
	}
	return &m, nil
}

var funcs = template.FuncMap{
	"when": func(v any) string {
		switch t := v.(type) {
		case time.Time:
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		case string:
			if tt, err := time.Parse(time.RFC3339Nano, t); err == nil {
				return tt.UTC().Format("2006-01-02 15:04:05 UTC")
			}
			return t
		}
		return ""
	},
	"join":   func(v []string) string { return strings.Join(v, ", ") },
	"plural": plural,
	"json": func(v any) string {
		b, _ := json.MarshalIndent(v, "", "  ")
		return string(b)
	},
	"dataURI": func(mime, b64 string) template.URL {
		// only base64 from the API reaches here; check the alphabet anyway
		for _, c := range b64 {
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
				return ""
			}
		}
		return template.URL("data:" + mime + ";base64," + b64)
	},
	"textURI": func(lines []string) template.URL {
		var b strings.Builder
		for _, l := range lines {
			b.WriteString(l)
			b.WriteString("\n")
		}
		return template.URL("data:text/plain;charset=utf-8," + strings.ReplaceAll(template.URLQueryEscaper(b.String()), "+", "%20"))
	},
}

// plural writes a count with its noun: "1 incident", "0 incidents", "2 recipients".
func plural(n any, one, many string) string {
	var v int64
	switch x := n.(type) {
	case int:
		v = int64(x)
	case int64:
		v = x
	case uint32:
		v = int64(x)
	case uint64:
		v = int64(x)
	}
	if v == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", v, many)
}

// render writes a page; a template error is logged and answered with a plain 500.
func (c *Console) render(w http.ResponseWriter, status int, name string, p *page) {
	t, ok := c.pages[name]
	if !ok {
		c.logger.Error("console template missing", "template", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		c.logger.Error("console template", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// ok renders a page with status 200.
func (c *Console) ok(w http.ResponseWriter, name string, p *page) error {
	c.render(w, http.StatusOK, name, p)
	return nil
}
