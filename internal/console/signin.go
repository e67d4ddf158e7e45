package console

import (
	"errors"
	"net/http"
	"strings"
	"time"
)

// ticketCookie carries the second-factor ticket between the password and the code step (single use, minutes).
const ticketCookie = "vigil_ticket"

func (c *Console) loginForm(w http.ResponseWriter, r *http.Request, p *page) error {
	p.Title = "Sign in"
	if p.Me != nil && !p.Me.EnrollmentRequired {
		return see(w, r, "/")
	}
	return c.ok(w, "login", p)
}

func (c *Console) loginPost(w http.ResponseWriter, r *http.Request, p *page) error {
	p.Title = "Sign in"
	a, err := c.call(r, "POST", "/v1/auth/login", map[string]string{"username": r.PostFormValue("username"), "password": r.PostFormValue("password")})
	if err != nil {
		return err
	}
	if !a.OK() {
		p.Error = signInProblem(a)
		c.render(w, a.Status, "login", p)
		return nil
	}
	var res struct {
		SecondFactor bool   `json:"second_factor_required"`
		Ticket       string `json:"ticket"`
		ExpiresIn    int    `json:"expires_in"`
	}
	if err := a.Decode(&res); err != nil {
		return err
	}
	if res.SecondFactor {
		http.SetCookie(w, &http.Cookie{Name: ticketCookie, Value: res.Ticket, Path: "/login", HttpOnly: true, Secure: secure(r),
			SameSite: http.SameSiteStrictMode, MaxAge: res.ExpiresIn})
		return see(w, r, "/login/code")
	}
	passCookies(w, a)
	return see(w, r, "/")
}

func signInProblem(a *apiResult) string {
	switch a.Status {
	case http.StatusUnauthorized:
		return "Invalid credentials."
	case http.StatusTooManyRequests:
		return "Too many attempts from your address; wait " + a.Header.Get("Retry-After") + " seconds."
	}
	return a.Problem()
}

func (c *Console) codeForm(w http.ResponseWriter, r *http.Request, p *page) error {
	p.Title = "Two-factor authentication"
	if ck, err := r.Cookie(ticketCookie); err != nil || ck.Value == "" {
		return see(w, r, "/login")
	}
	return c.ok(w, "code", p)
}

func (c *Console) codePost(w http.ResponseWriter, r *http.Request, p *page) error {
	p.Title = "Two-factor authentication"
	ck, err := r.Cookie(ticketCookie)
	if err != nil || ck.Value == "" {
		return see(w, r, "/login")
	}
	req := map[string]string{"ticket": ck.Value}
	if rc := strings.TrimSpace(r.PostFormValue("recovery_code")); rc != "" {
		req["recovery_code"] = rc
	} else {
		req["code"] = strings.TrimSpace(r.PostFormValue("code"))
	}
	a, err := c.call(r, "POST", "/v1/auth/second-factor", req)
	if err != nil {
		return err
	}
	// the ticket is used up either way
	http.SetCookie(w, &http.Cookie{Name: ticketCookie, Value: "", Path: "/login", HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode, MaxAge: -1})
	if !a.OK() {
		p.Title = "Sign in"
		p.Error = signInProblem(a) + " Sign in again."
		c.render(w, a.Status, "login", p)
		return nil
	}
	passCookies(w, a)
	return see(w, r, "/")
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, p *page) error {
	a, err := c.call(r, "POST", "/v1/auth/logout", nil)
	if err != nil {
		return err
	}
	passCookies(w, a)
	if len(a.Header.Values("Set-Cookie")) == 0 {
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode, Expires: time.Unix(1, 0)})
	}
	return see(w, r, "/login")
}

func (c *Console) home(w http.ResponseWriter, r *http.Request, p *page) error {
	p.Title = "Home"
	n, err := c.unreviewed(r)
	if err != nil { // the home page still leads everywhere else; say why the banner cannot be known
		var pe *pageError
		if !errors.As(err, &pe) {
			return err
		}
		p.Error = "Cannot tell whether there are new incidents: " + pe.Message
	}
	p.Data = struct{ Unreviewed int }{n}
	return c.ok(w, "home", p)
}
