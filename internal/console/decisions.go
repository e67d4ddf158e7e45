package console

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// apiDecisions is the auth API's containment decisions route.
const apiDecisions = "/v1/decisions"

func (c *Console) decisionRoutes(mux *http.ServeMux) {
	mux.Handle("GET /console/decisions", c.page(true, c.decisions))
	mux.Handle("POST /console/decisions/add", c.page(true, c.decisionAdd))
	mux.Handle("POST /console/decisions/lift", c.page(true, c.decisionLift))
}

// decisionRow is one decision as GET /v1/decisions describes it.
type decisionRow struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	Subject    string    `json:"subject"`
	Action     string    `json:"action"`
	Delay      int       `json:"delay_seconds"`
	IncidentID string    `json:"incident_id"`
	Rule       string    `json:"rule"`
	Reason     string    `json:"reason"`
	Observe    bool      `json:"observe"`
	CreatedBy  string    `json:"created_by"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	LiftedAt   time.Time `json:"lifted_at"`
	LiftedBy   string    `json:"lifted_by"`
	LiftReason string    `json:"lift_reason"`
	State      string    `json:"state"`
}

// ActionText is the action as people read it: "tarpit 3 s", and "would hold_mail" for an observe-mode decision
// (what the policy would have done; never enforced).
func (d decisionRow) ActionText() string {
	a := d.Action
	if a == "tarpit" {
		a += fmt.Sprintf(" %d s", d.Delay)
	}
	if d.Observe {
		return "would " + a
	}
	return a
}

// Liftable reports whether the decision can still be lifted (in force, or observed).
func (d decisionRow) Liftable() bool { return d.State == "active" || d.State == "observed" }

// decisionStates are the list's state filter's choices; the first is the default.
var decisionStates = []string{"active", "observed", "lifted", "expired", "all"}

// decisionActions are the actions by subject kind.
var decisionActions = map[string][]string{"user": {"hold_mail", "defer_mail", "block_login", "kick"}, "network": {"block_login", "tarpit"}}

// decisionDurations are the add form's choices of how long a decision lasts (the API takes up to 720h).
var decisionDurations = [][2]string{{"1h", "1 hour"}, {"4h", "4 hours"}, {"24h", "1 day"}, {"72h", "3 days"}, {"168h", "1 week"}, {"720h", "30 days"}}

type decisionsData struct {
	pager
	Rows      []decisionRow
	States    []string
	Actions   map[string][]string
	Durations [][2]string
	Form      url.Values // the add form's values after a refused post
}

// decisionFilters are the list's filters, passed to the API as they are (it validates them).
var decisionFilters = []string{"state", "kind", "action", "subject", "incident"}

func (c *Console) decisions(w http.ResponseWriter, r *http.Request, p *page) error {
	switch r.URL.Query().Get("done") {
	case "added":
		p.Notice = "The decision is in force."
	case "lifted":
		p.Notice = "The decision is lifted."
	}
	return c.decisionsPage(w, r, p, http.StatusOK)
}

func (c *Console) decisionsPage(w http.ResponseWriter, r *http.Request, p *page, status int) error {
	p.Title = "Containment decisions"
	q := r.URL.Query()
	d := &decisionsData{pager: pager{Filter: url.Values{}}, States: decisionStates, Actions: decisionActions, Durations: decisionDurations, Form: url.Values{}}
	if r.Method == http.MethodPost {
		d.Form = r.PostForm
	}
	api := url.Values{}
	for _, f := range decisionFilters {
		if v := strings.TrimSpace(q.Get(f)); v != "" && len(v) <= 400 {
			d.Filter.Set(f, v)
			api.Set(f, v)
		}
	}
	if d.Filter.Get("state") == "" {
		d.Filter.Set("state", decisionStates[0])
	}
	d.Page, _ = strconv.Atoi(q.Get("page"))
	d.Page = max(d.Page, 1)
	api.Set("limit", strconv.Itoa(perPage))
	api.Set("offset", strconv.Itoa((d.Page-1)*perPage))
	a, err := c.call(r, "GET", apiDecisions+"?"+api.Encode(), nil)
	if err != nil {
		return err
	}
	if a.OK() {
		var res struct {
			Decisions []decisionRow `json:"decisions"`
			Total     int           `json:"total"`
		}
		if err := a.Decode(&res); err != nil {
			return err
		}
		d.Rows, d.Total = res.Decisions, res.Total
	} else if p.Error == "" {
		p.Error, status = a.Problem(), a.Status
	}
	d.paginate("/console/decisions")
	p.Data = d
	c.render(w, status, "decisions", p)
	return nil
}

func (c *Console) decisionAdd(w http.ResponseWriter, r *http.Request, p *page) error {
	f := r.PostForm
	body := map[string]any{"kind": f.Get("kind"), "subject": strings.TrimSpace(f.Get("subject")), "action": f.Get("action"),
		"reason": f.Get("reason"), "expires_in": f.Get("duration")}
	if v := strings.TrimSpace(f.Get("delay")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			p.Error = "Delay: a whole number of seconds (1-15), for a tarpit only."
			return c.decisionsPage(w, r, p, http.StatusBadRequest)
		}
		body["delay_seconds"] = n
	}
	a, err := c.call(r, "POST", apiDecisions, body)
	if err != nil {
		return err
	}
	if !a.OK() {
		p.Error = a.Problem()
		return c.decisionsPage(w, r, p, a.Status)
	}
	return see(w, r, "/console/decisions?done=added")
}

func (c *Console) decisionLift(w http.ResponseWriter, r *http.Request, p *page) error {
	f := r.PostForm
	a, err := c.call(r, "DELETE", apiDecisions+"/"+url.PathEscape(f.Get("id")), map[string]string{"reason": f.Get("reason")})
	if err != nil {
		return err
	}
	incident := f.Get("incident")
	if !a.OK() {
		p.Error = "The decision is not lifted: " + a.Problem()
		if incident != "" {
			r.SetPathValue("id", incident)
			return c.incidentPage(w, r, p, a.Status)
		}
		return c.decisionsPage(w, r, p, a.Status)
	}
	if incident != "" {
		return see(w, r, "/console/incidents/"+url.PathEscape(incident)+"?done=lifted#decisions")
	}
	return see(w, r, "/console/decisions?done=lifted")
}

// incidentDecisions is the incident page's Decisions section: every decision the incident caused (in force,
// observed, lifted or expired), or why they cannot be shown.
type incidentDecisions struct {
	Rows  []decisionRow
	Error string
}

func (c *Console) incidentDecisions(r *http.Request, id string) *incidentDecisions {
	out := &incidentDecisions{}
	a, err := c.call(r, "GET", apiDecisions+"?"+url.Values{"state": {"all"}, "incident": {id}, "limit": {"500"}}.Encode(), nil)
	switch {
	case err != nil:
		out.Error = "The decisions cannot be read: " + err.Error()
	case !a.OK():
		out.Error = "The decisions cannot be read: " + a.Problem()
	default:
		var res struct {
			Decisions []decisionRow `json:"decisions"`
		}
		if err := a.Decode(&res); err != nil {
			out.Error = "The decisions cannot be read: " + err.Error()
		}
		out.Rows = res.Decisions
	}
	return out
}
