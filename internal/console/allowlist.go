package console

import (
	"net/http"
	"net/url"
	"time"
)

type allowEntry struct {
	ID          string    `json:"id"`
	Prefix      string    `json:"prefix"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	CreatedBy   string    `json:"created_by"`
}

type allowData struct {
	Restricted bool         `json:"restricted"`
	Entries    []allowEntry `json:"entries"`
	YourIP     string       `json:"-"`
	YouInList  bool         `json:"-"`
}

var allowNotices = map[string]string{
	"added":      "Added to the list.",
	"deleted":    "Removed from the list.",
	"restricted": "Admin access is now restricted to the IPs in the list.",
	"open":       "Admin access is unrestricted again (the list is kept).",
}

func (c *Console) allowlist(w http.ResponseWriter, r *http.Request, p *page) error {
	p.Notice = allowNotices[r.URL.Query().Get("done")]
	return c.allowPage(w, r, p, http.StatusOK)
}

func (c *Console) allowPage(w http.ResponseWriter, r *http.Request, p *page, status int) error {
	p.Title = "Admin IP access list"
	a, err := c.call(r, "GET", "/v1/allowlist", nil)
	if err != nil {
		return err
	}
	if !a.OK() {
		return apiError(a)
	}
	d := &allowData{YourIP: p.Me.ClientIP}
	if err := a.Decode(d); err != nil {
		return err
	}
	if t, err := c.call(r, "POST", "/v1/allowlist/test", map[string]string{"ip": p.Me.ClientIP}); err == nil && t.OK() {
		var res struct {
			InList bool `json:"in_list"`
		}
		if t.Decode(&res) == nil {
			d.YouInList = res.InList
		}
	}
	p.Data = d
	c.render(w, status, "allowlist", p)
	return nil
}

// allowChange posts one change to the API; a refusal shows the list again with the API's reason.
func (c *Console) allowChange(w http.ResponseWriter, r *http.Request, p *page, method, path string, body any, done string) error {
	a, err := c.call(r, method, path, body)
	if err != nil {
		return err
	}
	if !a.OK() {
		p.Error = a.Problem()
		return c.allowPage(w, r, p, a.Status)
	}
	return see(w, r, "/console/allowlist?done="+done)
}

func (c *Console) allowAdd(w http.ResponseWriter, r *http.Request, p *page) error {
	return c.allowChange(w, r, p, "POST", "/v1/allowlist", map[string]string{"prefix": r.PostFormValue("prefix"), "description": r.PostFormValue("description")}, "added")
}

func (c *Console) allowDelete(w http.ResponseWriter, r *http.Request, p *page) error {
	return c.allowChange(w, r, p, "DELETE", "/v1/allowlist/"+url.PathEscape(r.PostFormValue("id")), nil, "deleted")
}

func (c *Console) allowRestrict(w http.ResponseWriter, r *http.Request, p *page) error {
	on := r.PostFormValue("restricted") == "true"
	done := "open"
	if on {
		done = "restricted"
	}
	return c.allowChange(w, r, p, "PUT", "/v1/allowlist/restricted", map[string]bool{"restricted": on}, done)
}
