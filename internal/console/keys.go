package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"unicode"
)

// listOf fetches a JSON list from the API: either a bare array or an object with the list under field. A route
// the API does not have yet gives an empty list.
func (c *Console) listOf(r *http.Request, path, field string, v any) error {
	a, err := c.call(r, "GET", path, nil)
	if err != nil {
		return err
	}
	if a.Status == http.StatusNotFound || a.Status == http.StatusMethodNotAllowed {
		return nil
	}
	if !a.OK() {
		return apiError(a)
	}
	if len(a.Body) > 0 && a.Body[0] == '[' {
		return a.Decode(v)
	}
	var obj map[string]json.RawMessage
	if err := a.Decode(&obj); err != nil {
		return err
	}
	if raw, ok := obj[field]; ok {
		return json.Unmarshal(raw, v)
	}
	return nil
}

type apiKey struct {
	ID      string   `json:"id"`
	Account string   `json:"account"`
	Name    string   `json:"name"`
	Scopes  []string `json:"scopes"`
	Created string   `json:"created"`
}

type keysData struct {
	Keys   []apiKey
	NewKey string
}

func (c *Console) apikeys(w http.ResponseWriter, r *http.Request, p *page) error {
	if r.URL.Query().Get("done") == "revoked" {
		p.Notice = "The key is revoked."
	}
	return c.keysPage(w, r, p, http.StatusOK, "")
}

func (c *Console) keysPage(w http.ResponseWriter, r *http.Request, p *page, status int, newKey string) error {
	p.Title = "API keys"
	d := &keysData{NewKey: newKey}
	if err := c.listOf(r, "/v1/apikeys", "keys", &d.Keys); err != nil {
		return err
	}
	p.Data = d
	c.render(w, status, "apikeys", p)
	return nil
}

func (c *Console) apikeyCreate(w http.ResponseWriter, r *http.Request, p *page) error {
	scopes := r.PostForm["scope"]
	if scopes == nil {
		scopes = []string{}
	}
	a, err := c.call(r, "POST", "/v1/apikeys", map[string]any{"name": r.PostFormValue("name"), "scopes": scopes})
	if err != nil {
		return err
	}
	if !a.OK() {
		p.Error = a.Problem()
		return c.keysPage(w, r, p, a.Status, "")
	}
	var res struct {
		Key string `json:"key"`
	}
	if err := a.Decode(&res); err != nil {
		return err
	}
	p.Notice = "Copy the key now: it is shown only once."
	return c.keysPage(w, r, p, http.StatusOK, res.Key)
}

func (c *Console) apikeyRevoke(w http.ResponseWriter, r *http.Request, p *page) error {
	a, err := c.call(r, "DELETE", "/v1/apikeys/"+url.PathEscape(r.PostFormValue("id")), nil)
	if err != nil {
		return err
	}
	if !a.OK() {
		p.Error = a.Problem()
		return c.keysPage(w, r, p, a.Status, "")
	}
	return see(w, r, "/console/apikeys?done=revoked")
}

type adminAccount struct {
	Username    string   `json:"username"`
	Role        string   `json:"role"`
	Domains     []string `json:"domains"`
	TOTPEnabled bool     `json:"totp_enabled"`
	Created     string   `json:"created"`
}

func (c *Console) accounts(w http.ResponseWriter, r *http.Request, p *page) error {
	switch r.URL.Query().Get("done") {
	case "created":
		p.Notice = "The account is created. Its owner signs in with the password and, for roles that require it, sets up 2FA first."
	case "reset":
		p.Notice = "Two-factor authentication is reset: the account enrolls again at its next sign-in."
	}
	return c.accountsPage(w, r, p, http.StatusOK)
}

func (c *Console) accountsPage(w http.ResponseWriter, r *http.Request, p *page, status int) error {
	p.Title = "Accounts"
	var list []adminAccount
	if err := c.listOf(r, "/v1/accounts", "accounts", &list); err != nil {
		return err
	}
	p.Data = list
	c.render(w, status, "accounts", p)
	return nil
}

func (c *Console) accountCreate(w http.ResponseWriter, r *http.Request, p *page) error {
	// Domains: a list separated by commas or spaces; the API validates each and refuses them for an admin.
	domains := strings.FieldsFunc(r.PostFormValue("domains"), func(c rune) bool { return c == ',' || unicode.IsSpace(c) })
	if domains == nil {
		domains = []string{}
	}
	a, err := c.call(r, "POST", "/v1/accounts", map[string]any{"username": r.PostFormValue("username"), "password": r.PostFormValue("password"),
		"role": r.PostFormValue("role"), "domains": domains})
	if err != nil {
		return err
	}
	if !a.OK() {
		p.Error = a.Problem()
		return c.accountsPage(w, r, p, a.Status)
	}
	return see(w, r, "/console/accounts?done=created")
}

func (c *Console) accountReset(w http.ResponseWriter, r *http.Request, p *page) error {
	a, err := c.call(r, "POST", "/v1/accounts/"+url.PathEscape(r.PostFormValue("username"))+"/reset-2fa", nil)
	if err != nil {
		return err
	}
	if !a.OK() {
		p.Error = a.Problem()
		return c.accountsPage(w, r, p, a.Status)
	}
	return see(w, r, "/console/accounts?done=reset")
}
