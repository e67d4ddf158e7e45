package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The auth API's incident routes the console uses.
const (
	apiIncidents = "/v1/incidents"
	apiSummary   = "/v1/incidents/summary"
	apiTrusted   = "/v1/trusted-networks"
	apiAudit     = "/v1/audit"
)

func (c *Console) incidentRoutes(mux *http.ServeMux) {
	mux.Handle("GET /console/incidents", c.page(true, c.incidents))
	mux.Handle("GET /console/incidents/{id}", c.page(true, c.incident))
	mux.Handle("POST /console/incidents/{id}/review", c.page(true, c.review))
	mux.Handle("GET /console/safe", c.page(true, c.safeForm))
	mux.Handle("POST /console/safe", c.page(true, c.safePost))
	mux.Handle("GET /console/trusted", c.page(true, c.trusted))
	mux.Handle("POST /console/trusted/add", c.page(true, c.trustedAdd))
	mux.Handle("POST /console/trusted/delete", c.page(true, c.trustedDelete))
	mux.Handle("GET /console/audit", c.page(true, c.audit))
}

// unreviewed counts the incidents the signed-in admin may see and nobody has reviewed.
func (c *Console) unreviewed(r *http.Request) (int, error) {
	a, err := c.call(r, "GET", apiSummary, nil)
	if err != nil {
		return 0, err
	}
	if a.Status == http.StatusNotFound || a.Status == http.StatusMethodNotAllowed {
		return 0, nil
	}
	if !a.OK() {
		return 0, apiError(a)
	}
	var s struct {
		Unreviewed int `json:"unreviewed"`
	}
	if err := a.Decode(&s); err != nil {
		return 0, err
	}
	return s.Unreviewed, nil
}

type incidentRow struct {
	ID            string          `json:"incident_id"`
	Rule          string          `json:"rule"`
	User          string          `json:"user"`
	Domain        string          `json:"domain"`
	Status        string          `json:"status"`
	FirstSeen     time.Time       `json:"first_seen"`
	LastSeen      time.Time       `json:"last_seen"`
	Countries     []string        `json:"countries"`
	IPs           []string        `json:"ips"`
	Logins        int             `json:"logins"`
	Messages24h   int             `json:"messages_24h"`
	Recipients24h int             `json:"recipients_24h"`
	Version       uint64          `json:"version"`
	Evidence      json.RawMessage `json:"evidence"`
}

type incidentsData struct {
	Filter     url.Values
	Rows       []incidentRow
	Total      int
	Page, Last int
	Prev, Next string
	Statuses   []string
}

const perPage = 25

// incidentFilters are the list's filters, passed to the API as they are (it validates them).
var incidentFilters = []string{"status", "rule", "domain", "user", "from", "to"}

func (c *Console) incidents(w http.ResponseWriter, r *http.Request, p *page) error {
	p.Title = "Security incidents"
	q := r.URL.Query()
	d := &incidentsData{Filter: url.Values{}, Statuses: []string{"open", "acknowledged", "resolved"}}
	api := url.Values{}
	for _, f := range incidentFilters {
		if v := strings.TrimSpace(q.Get(f)); v != "" && len(v) <= 200 {
			d.Filter.Set(f, v)
			api.Set(f, v)
		}
	}
	d.Page, _ = strconv.Atoi(q.Get("page"))
	d.Page = max(d.Page, 1)
	api.Set("limit", strconv.Itoa(perPage))
	api.Set("offset", strconv.Itoa((d.Page-1)*perPage))
	a, err := c.call(r, "GET", apiIncidents+"?"+api.Encode(), nil)
	if err != nil {
		return err
	}
	if !a.OK() {
		p.Error = a.Problem()
		p.Data = d
		c.render(w, a.Status, "incidents", p)
		return nil
	}
	var res struct {
		Incidents []incidentRow `json:"incidents"`
		Total     int           `json:"total"`
	}
	if err := a.Decode(&res); err != nil {
		return err
	}
	d.Rows, d.Total = res.Incidents, res.Total
	d.Last = max(1, (d.Total+perPage-1)/perPage)
	link := func(page int) string {
		v := url.Values{}
		for k, vs := range d.Filter {
			v[k] = vs
		}
		v.Set("page", strconv.Itoa(page))
		return "/console/incidents?" + v.Encode()
	}
	if d.Page > 1 {
		d.Prev = link(d.Page - 1)
	}
	if d.Page < d.Last {
		d.Next = link(d.Page + 1)
	}
	p.Data = d
	return c.ok(w, "incidents", p)
}

type review struct {
	Status   string    `json:"status"`
	Reason   string    `json:"reason"`
	Note     string    `json:"note"`
	Actor    string    `json:"actor"`
	Time     time.Time `json:"time"`
	Revision uint64    `json:"revision"`
}

type loginRow struct {
	Time    time.Time `json:"time"`
	IP      string    `json:"ip"`
	Country string    `json:"country"`
	Service string    `json:"service"`
	Success bool      `json:"success"`
	Trusted bool      `json:"trusted"`
	Source  string    `json:"source"`
}

type incidentData struct {
	Incident incidentRow
	Evidence evidence
	Reviews  []review
	Revision uint64
	Logins   []loginRow
	Reasons  []string
}

// resolveReasons are the reasons a resolution can name.
var resolveReasons = []string{"false_positive", "legitimate_travel", "vpn_or_proxy", "password_reset", "account_blocked", "other"}

func (c *Console) incident(w http.ResponseWriter, r *http.Request, p *page) error {
	switch r.URL.Query().Get("done") {
	case "reviewed":
		p.Notice = "The review is saved."
	case "safe":
		p.Notice = "Marked as safe: logins from that range no longer count toward incidents."
	}
	return c.incidentPage(w, r, p, http.StatusOK)
}

func (c *Console) incidentPage(w http.ResponseWriter, r *http.Request, p *page, status int) error {
	id := r.PathValue("id")
	a, err := c.call(r, "GET", apiIncidents+"/"+url.PathEscape(id), nil)
	if err != nil {
		return err
	}
	if !a.OK() {
		return apiError(a)
	}
	var res struct {
		Incident incidentRow `json:"incident"`
		Reviews  []review    `json:"reviews"`
		Review   *review     `json:"review"`
		Logins   []loginRow  `json:"logins"`
	}
	if err := a.Decode(&res); err != nil {
		return err
	}
	d := &incidentData{Incident: res.Incident, Evidence: layoutEvidence(res.Incident.Evidence), Reviews: res.Reviews, Logins: res.Logins, Reasons: resolveReasons}
	if len(d.Reviews) == 0 && res.Review != nil {
		d.Reviews = []review{*res.Review}
	}
	for _, rv := range d.Reviews {
		d.Revision = max(d.Revision, rv.Revision)
	}
	if d.Logins == nil && d.Incident.User != "" {
		if err := c.listOf(r, "/v1/users/"+url.PathEscape(d.Incident.User)+"/logins", "logins", &d.Logins); err != nil {
			return err
		}
	}
	p.Title = "Incident: " + d.Incident.User
	p.Data = d
	c.render(w, status, "incident", p)
	return nil
}

func (c *Console) review(w http.ResponseWriter, r *http.Request, p *page) error {
	id := r.PathValue("id")
	rev, _ := strconv.ParseUint(r.PostFormValue("revision"), 10, 64)
	body := map[string]any{"status": r.PostFormValue("status"), "reason": r.PostFormValue("reason"), "note": r.PostFormValue("note"), "revision": rev}
	a, err := c.call(r, "POST", apiIncidents+"/"+url.PathEscape(id)+"/review", body)
	if err != nil {
		return err
	}
	if !a.OK() {
		p.Error = a.Problem()
		if a.Status == http.StatusConflict {
			p.Error = "Someone else reviewed this incident meanwhile: " + a.Problem() + " The page shows the current review; decide again."
		}
		return c.incidentPage(w, r, p, a.Status)
	}
	return see(w, r, "/console/incidents/"+url.PathEscape(id)+"?done=reviewed")
}

type safeData struct {
	IP, User, Incident string
	Ranges             []safeRange
}

func (c *Console) safeForm(w http.ResponseWriter, r *http.Request, p *page) error {
	return c.safePage(w, r, p, http.StatusOK, r.URL.Query())
}

func (c *Console) safePage(w http.ResponseWriter, r *http.Request, p *page, status int, v url.Values) error {
	p.Title = "Mark as safe"
	ranges, err := safeRanges(v.Get("ip"))
	if err != nil {
		return &pageError{Status: http.StatusBadRequest, Message: err.Error()}
	}
	p.Data = &safeData{IP: v.Get("ip"), User: v.Get("user"), Incident: v.Get("incident"), Ranges: ranges}
	c.render(w, status, "safe", p)
	return nil
}

func (c *Console) safePost(w http.ResponseWriter, r *http.Request, p *page) error {
	f := r.PostForm
	body := map[string]string{"prefix": f.Get("prefix"), "description": f.Get("description"), "scope": f.Get("scope"), "user": f.Get("user")}
	if at := strings.LastIndexByte(f.Get("user"), '@'); at >= 0 {
		body["domain"] = f.Get("user")[at+1:]
	}
	a, err := c.call(r, "POST", apiTrusted, body)
	if err != nil {
		return err
	}
	if !a.OK() {
		p.Error = a.Problem()
		return c.safePage(w, r, p, a.Status, f)
	}
	if id := f.Get("incident"); id != "" {
		return see(w, r, "/console/incidents/"+url.PathEscape(id)+"?done=safe")
	}
	return see(w, r, "/console/trusted?done=added")
}

type trustedEntry struct {
	ID          string    `json:"id"`
	Scope       string    `json:"scope"`
	User        string    `json:"user"`
	Domain      string    `json:"domain"`
	Prefix      string    `json:"prefix"`
	Description string    `json:"description"`
	CreatedBy   string    `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
}

type trustedData struct {
	Domain, Search string
	Domains        []string
	Entries        []trustedEntry
}

func (c *Console) trusted(w http.ResponseWriter, r *http.Request, p *page) error {
	switch r.URL.Query().Get("done") {
	case "added":
		p.Notice = "The trusted range is added."
	case "deleted":
		p.Notice = "The trusted range is removed."
	}
	return c.trustedPage(w, r, p, http.StatusOK)
}

func (c *Console) trustedPage(w http.ResponseWriter, r *http.Request, p *page, status int) error {
	p.Title = "User trusted login IPs"
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		q = r.PostForm
	}
	d := &trustedData{Domain: strings.TrimSpace(q.Get("domain")), Search: strings.TrimSpace(q.Get("q"))}
	api := url.Values{}
	if d.Domain != "" {
		api.Set("domain", d.Domain)
	}
	if d.Search != "" {
		api.Set("q", d.Search)
	}
	a, err := c.call(r, "GET", apiTrusted+"?"+api.Encode(), nil)
	if err != nil {
		return err
	}
	if a.OK() {
		var res struct {
			Entries []trustedEntry `json:"entries"`
			Domains []string       `json:"domains"`
		}
		if err := a.Decode(&res); err != nil {
			return err
		}
		d.Entries, d.Domains = res.Entries, res.Domains
	} else if p.Error == "" {
		p.Error = a.Problem()
		status = a.Status
	}
	p.Data = d
	c.render(w, status, "trusted", p)
	return nil
}

func (c *Console) trustedAdd(w http.ResponseWriter, r *http.Request, p *page) error {
	f := r.PostForm
	body := map[string]string{"prefix": f.Get("prefix"), "description": f.Get("description"), "scope": f.Get("scope"), "user": f.Get("user"), "domain": f.Get("domain")}
	a, err := c.call(r, "POST", apiTrusted, body)
	if err != nil {
		return err
	}
	if !a.OK() {
		p.Error = a.Problem()
		return c.trustedPage(w, r, p, a.Status)
	}
	return see(w, r, "/console/trusted?done=added&domain="+url.QueryEscape(f.Get("domain")))
}

func (c *Console) trustedDelete(w http.ResponseWriter, r *http.Request, p *page) error {
	a, err := c.call(r, "DELETE", apiTrusted+"/"+url.PathEscape(r.PostFormValue("id")), nil)
	if err != nil {
		return err
	}
	if !a.OK() {
		p.Error = a.Problem()
		return c.trustedPage(w, r, p, a.Status)
	}
	return see(w, r, "/console/trusted?done=deleted&domain="+url.QueryEscape(r.PostFormValue("domain")))
}

type auditRow struct {
	Time     time.Time `json:"time"`
	Action   string    `json:"action"`
	Actor    string    `json:"actor"`
	ClientIP string    `json:"client_ip"`
	Target   string    `json:"target"`
	Result   string    `json:"result"`
	Before   string    `json:"before"`
	After    string    `json:"after"`
}

type auditData struct {
	Rows       []auditRow
	Page       int
	Prev, Next string
}

func (c *Console) audit(w http.ResponseWriter, r *http.Request, p *page) error {
	p.Title = "Audit log"
	d := &auditData{}
	d.Page, _ = strconv.Atoi(r.URL.Query().Get("page"))
	d.Page = max(d.Page, 1)
	api := url.Values{"limit": {strconv.Itoa(perPage + 1)}, "offset": {strconv.Itoa((d.Page - 1) * perPage)}}
	if err := c.listOf(r, apiAudit+"?"+api.Encode(), "records", &d.Rows); err != nil {
		return err
	}
	if len(d.Rows) > perPage {
		d.Rows = d.Rows[:perPage]
		d.Next = "/console/audit?page=" + strconv.Itoa(d.Page+1)
	}
	if d.Page > 1 {
		d.Prev = "/console/audit?page=" + strconv.Itoa(d.Page-1)
	}
	p.Data = d
	return c.ok(w, "audit", p)
}
