package console

import (
	"net/http"
	"net/url"
	"time"
)

// The auth API's held-mail routes (internal/authapi/held.go).
const apiHeld = "/v1/held"

// heldRow is one held message as the incident page's Held mail section shows it.
type heldRow struct {
	Host       string    `json:"host"`
	QueueID    string    `json:"queue_id"`
	Sender     string    `json:"sender"`
	Recipients int       `json:"recipients"`
	Size       int64     `json:"size"`
	HeldAt     time.Time `json:"held_at"`
	Status     string    `json:"status"`
	Actor      string    `json:"actor"`
	ChangedAt  time.Time `json:"changed_at"`
	Detail     string    `json:"detail"`
}

// Actionable reports whether Release and Delete are offered (not once the host released or deleted it).
func (h heldRow) Actionable() bool { return h.Status != "released" && h.Status != "deleted" }

// heldSection is the Held mail section: the messages, or why they cannot be shown.
type heldSection struct {
	Messages []heldRow
	Problem  string // the API's message when the list is unavailable (no quarantine configured, ClickHouse down)
}

// held reads the incident's held mail for its page; a failure shows in the section, not as the page's error.
func (c *Console) held(r *http.Request, incidentID string) *heldSection {
	a, err := c.call(r, "GET", apiIncidents+"/"+url.PathEscape(incidentID)+"/held", nil)
	if err != nil {
		return &heldSection{Problem: err.Error()}
	}
	if !a.OK() {
		return &heldSection{Problem: a.Problem()}
	}
	var res struct {
		Held []heldRow `json:"held"`
	}
	if err := a.Decode(&res); err != nil {
		return &heldSection{Problem: err.Error()}
	}
	return &heldSection{Messages: res.Held}
}

func (c *Console) heldRoutes(mux *http.ServeMux) {
	mux.Handle("POST /console/held/{host}/{queue_id}/release", c.page(true, c.heldAction("release")))
	mux.Handle("POST /console/held/{host}/{queue_id}/delete", c.page(true, c.heldAction("delete")))
}

// heldAction asks the API to release or delete a held message, then shows the incident page again.
func (c *Console) heldAction(action string) func(w http.ResponseWriter, r *http.Request, p *page) error {
	return func(w http.ResponseWriter, r *http.Request, p *page) error {
		incident := r.PostFormValue("incident")
		a, err := c.call(r, "POST", apiHeld+"/"+url.PathEscape(r.PathValue("host"))+"/"+url.PathEscape(r.PathValue("queue_id"))+"/"+action, nil)
		if err != nil {
			return err
		}
		if !validIncident(incident) {
			if !a.OK() {
				return apiError(a)
			}
			return see(w, r, "/console/incidents")
		}
		if !a.OK() {
			p.Error = "The " + action + " was not sent: " + a.Problem()
			r.SetPathValue("id", incident)
			return c.incidentPage(w, r, p, a.Status)
		}
		return see(w, r, "/console/incidents/"+url.PathEscape(incident)+"?done=held_"+action)
	}
}

// validIncident reports whether id looks like an incident id (32 lower-case hex digits), so it can go in a link.
func validIncident(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if (id[i] < '0' || id[i] > '9') && (id[i] < 'a' || id[i] > 'f') {
			return false
		}
	}
	return true
}
