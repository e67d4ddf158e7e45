package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/authapi"
)

// The auth API's incident routes the console uses.
const (
	apiIncidents = "/v1/incidents"
	apiSummary   = "/v1/incidents/summary"
	apiTrusted   = "/v1/trusted-networks"
	apiAudit     = "/v1/audit-log"
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
	mux.Handle("GET /console/users/{user}", c.page(true, c.userLogins))
	c.heldRoutes(mux)
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

// Subject is what the incident is about: its user, or for an address-keyed rule (user empty) the address or
// network, which comes first in its IPs.
func (r incidentRow) Subject() string {
	if r.User == "" && len(r.IPs) > 0 {
		return r.IPs[0]
	}
	return r.User
}

type incidentsData struct {
	pager
	Rows     []incidentRow
	Statuses []string
}

const perPage = 25

// pager is a paged list's position: the filter its links keep, the total, the page shown and the last one, and the
// links to the pages around it.
type pager struct {
	Filter     url.Values
	Total      int
	Page, Last int
	Prev, Next string
}

// paginate computes Last from Total and the links to the previous and next pages of path, keeping the filter.
func (g *pager) paginate(path string) {
	g.Last = max(1, (g.Total+perPage-1)/perPage)
	link := func(page int) string {
		v := url.Values{}
		for k, vs := range g.Filter {
			v[k] = vs
		}
		v.Set("page", strconv.Itoa(page))
		return path + "?" + v.Encode()
	}
	if g.Page > 1 {
		g.Prev = link(g.Page - 1)
	}
	if g.Page < g.Last {
		g.Next = link(g.Page + 1)
	}
}

// incidentFilters are the list's filters, passed to the API as they are (it validates them).
var incidentFilters = []string{"status", "rule", "domain", "user", "from", "to"}

func (c *Console) incidents(w http.ResponseWriter, r *http.Request, p *page) error {
	p.Title = "Security incidents"
	q := r.URL.Query()
	d := &incidentsData{pager: pager{Filter: url.Values{}}, Statuses: []string{"open", "acknowledged", "resolved"}}
	api := url.Values{}
	for _, f := range incidentFilters {
		if v := strings.TrimSpace(q.Get(f)); v != "" && len(v) <= 200 {
			d.Filter.Set(f, v)
			api.Set(f, apiTime(f, v))
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
	d.paginate("/console/incidents")
	p.Data = d
	return c.ok(w, "incidents", p)
}

type review struct {
	Action   string    `json:"action"`
	Status   string    `json:"status"`
	Reason   string    `json:"reason"`
	Note     string    `json:"note"`
	By       string    `json:"by"`
	At       time.Time `json:"at"`
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

// stepUpRow is a mailbox 2FA step-up outcome recorded on the incident (its own block of the page).
type stepUpRow struct {
	Time     time.Time `json:"time"`
	User     string    `json:"user"`
	Result   string    `json:"result"`
	Method   string    `json:"method"`
	ClientIP string    `json:"client_ip"`
	Actor    string    `json:"actor"`
}

type incidentData struct {
	Incident incidentRow
	Evidence evidence
	Reviews  []review
	Revision uint64
	Logins   []loginRow
	Reasons  []string
	// Decisions is the incident's containment decisions section (decisions.go).
	Decisions *incidentDecisions
	StepUps   []stepUpRow
	Held      *heldSection // the Held mail section (held.go)
}

// resolveReasons are the reasons a resolution can name.
var resolveReasons = authapi.ResolveReasons

func (c *Console) incident(w http.ResponseWriter, r *http.Request, p *page) error {
	switch r.URL.Query().Get("done") {
	case "reviewed":
		p.Notice = "The review is saved."
	case "safe":
		p.Notice = "Marked as safe: logins from that range no longer count toward incidents."
	case "lifted":
		p.Notice = "The decision is lifted."
	case "held_release":
		p.Notice = "The release is sent to the mail host; the status changes when it reports back."
	case "held_delete":
		p.Notice = "The deletion is sent to the mail host; the status changes when it reports back."
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
		History  []review    `json:"review_history"`
		Revision uint64      `json:"revision"`
		Logins   []loginRow  `json:"logins"`
		StepUps  []stepUpRow `json:"step_ups"`
	}
	if err := a.Decode(&res); err != nil {
		return err
	}
	d := &incidentData{Incident: res.Incident, Evidence: layoutEvidence(res.Incident.Evidence), Reviews: res.History, Revision: res.Revision,
		Logins: res.Logins, Reasons: resolveReasons}
	d.Decisions = c.incidentDecisions(r, id)
	d.StepUps = res.StepUps
	d.Held = c.held(r, id)
	p.Title = "Incident: " + d.Incident.Subject()
	p.Data = d
	c.render(w, status, "incident", p)
	return nil
}

func (c *Console) review(w http.ResponseWriter, r *http.Request, p *page) error {
	id := r.PathValue("id")
	rev, _ := strconv.ParseUint(r.PostFormValue("revision"), 10, 64)
	body := map[string]any{"action": r.PostFormValue("action"), "note": r.PostFormValue("note"), "revision": rev}
	if reason := r.PostFormValue("reason"); reason != "" {
		body["reason"] = reason
	}
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
	a, err := c.call(r, "POST", apiTrusted, trustRequest(f.Get("prefix"), f.Get("description"), f.Get("scope"), f.Get("user"), ""))
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

// trustRequest is the API's body for a new trusted range: the user for scope user, the domain (or a user of
// it) for scope domain, neither for global.
func trustRequest(prefix, description, scope, user, domain string) map[string]string {
	body := map[string]string{"prefix": prefix, "description": description, "scope": scope}
	switch scope {
	case "user":
		body["user"] = strings.TrimSpace(user)
	case "domain":
		if domain = strings.TrimSpace(domain); domain != "" {
			body["domain"] = domain
		} else {
			body["user"] = strings.TrimSpace(user)
		}
	}
	return body
}

type trustedEntry struct {
	ID          string    `json:"id"`
	Scope       string    `json:"scope"`
	Subject     string    `json:"subject"`
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
			Networks []trustedEntry `json:"networks"`
		}
		if err := a.Decode(&res); err != nil {
			return err
		}
		d.Entries = res.Networks
		seen := map[string]bool{}
		for _, e := range d.Entries { // the domains to choose from
			dom := e.Subject
			if e.Scope == "user" {
				dom = dom[strings.LastIndexByte(dom, '@')+1:]
			}
			if e.Scope != "global" && !seen[dom] {
				seen[dom] = true
				d.Domains = append(d.Domains, dom)
			}
		}
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
	a, err := c.call(r, "POST", apiTrusted, trustRequest(f.Get("prefix"), f.Get("description"), f.Get("scope"), f.Get("user"), f.Get("domain")))
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
	if err := c.listOf(r, apiAudit+"?"+api.Encode(), "entries", &d.Rows); err != nil {
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

// apiTime turns a date filter (the date input's 2006-01-02) into the API's RFC 3339 time: from the start of the day,
// to the end of it. Anything else passes unchanged (the API validates it).
func apiTime(field, v string) string {
	if field != "from" && field != "to" {
		return v
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return v
	}
	if field == "to" {
		t = t.AddDate(0, 0, 1)
	}
	return t.Format(time.RFC3339)
}

type userData struct {
	User   string
	Logins []loginRow
}

// userLogins shows a user's Last Logins, each with "Mark as safe".
func (c *Console) userLogins(w http.ResponseWriter, r *http.Request, p *page) error {
	d := &userData{User: r.PathValue("user")}
	if err := c.listOf(r, "/v1/users/"+url.PathEscape(d.User)+"/logins", "logins", &d.Logins); err != nil {
		return err
	}
	p.Title = "Last logins: " + d.User
	p.Data = d
	return c.ok(w, "user", p)
}
