package console

import (
	"net/http"
	"strings"
)

type enrollment struct {
	Secret  string `json:"secret"`
	QR      string `json:"qr_png_base64"`
	Expires string `json:"expires"`
}

type twofaData struct {
	Enroll *enrollment
	Codes  []string
}

func (c *Console) twofa(w http.ResponseWriter, r *http.Request, p *page) error {
	p.Title = "Two-factor authentication"
	p.Data = &twofaData{}
	switch r.URL.Query().Get("done") {
	case "disabled":
		p.Notice = "Two-factor authentication is off."
	}
	return c.ok(w, "twofa", p)
}

// enroll starts the wizard: a new pending secret, shown once as a QR code and as text.
func (c *Console) enroll(w http.ResponseWriter, r *http.Request, p *page) error {
	p.Title = "Two-factor authentication"
	a, err := c.call(r, "POST", "/v1/2fa/enroll", nil)
	if err != nil {
		return err
	}
	d := &twofaData{}
	p.Data = d
	if !a.OK() {
		p.Error = a.Problem()
		c.render(w, a.Status, "twofa", p)
		return nil
	}
	d.Enroll = &enrollment{}
	if err := a.Decode(d.Enroll); err != nil {
		return err
	}
	return c.ok(w, "twofa", p)
}

func (c *Console) confirm(w http.ResponseWriter, r *http.Request, p *page) error {
	return c.codes(w, r, p, "/v1/2fa/confirm", "The code did not match (or the enrollment expired): start again to get a new secret.")
}

func (c *Console) regenerate(w http.ResponseWriter, r *http.Request, p *page) error {
	return c.codes(w, r, p, "/v1/2fa/recovery-codes", "")
}

// codes posts a code to path and shows the backup codes of the answer once.
func (c *Console) codes(w http.ResponseWriter, r *http.Request, p *page, path, problem string) error {
	p.Title = "Two-factor authentication"
	d := &twofaData{}
	p.Data = d
	a, err := c.call(r, "POST", path, map[string]string{"code": strings.TrimSpace(r.PostFormValue("code"))})
	if err != nil {
		return err
	}
	if !a.OK() {
		p.Error = a.Problem()
		if problem != "" && a.Status == http.StatusUnauthorized {
			p.Error = problem
		}
		c.render(w, a.Status, "twofa", p)
		return nil
	}
	passCookies(w, a) // confirming rotates the session
	var res struct {
		Codes   []string `json:"recovery_codes"`
		Session string   `json:"session"`
	}
	if err := a.Decode(&res); err != nil {
		return err
	}
	if res.Session != "" { // the forms of this page belong to the new session
		if ck, err := r.Cookie(csrfCookie); err == nil {
			p.CSRF = csrfToken(ck.Value, res.Session)
		}
		p.Me.EnrollmentRequired, p.Me.TOTPEnabled = false, true
	}
	d.Codes = res.Codes
	p.Notice = "Two-factor authentication is on."
	if path != "/v1/2fa/confirm" {
		p.Notice = "New backup codes: the old ones no longer work."
	}
	return c.ok(w, "twofa", p)
}

func (c *Console) disable(w http.ResponseWriter, r *http.Request, p *page) error {
	p.Title = "Two-factor authentication"
	p.Data = &twofaData{}
	a, err := c.call(r, "POST", "/v1/2fa/disable", map[string]string{"code": strings.TrimSpace(r.PostFormValue("code"))})
	if err != nil {
		return err
	}
	if !a.OK() {
		p.Error = a.Problem()
		c.render(w, a.Status, "twofa", p)
		return nil
	}
	return see(w, r, "/console/2fa?done=disabled")
}
