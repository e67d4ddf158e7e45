package authapi

import (
	"context"
	"net/http"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/httpapi"
)

// IncidentPage is one page of the incident list.
type IncidentPage struct {
	Incidents []chstore.IncidentRow `json:"incidents"`
	Total     uint64                `json:"total"`
	Limit     int                   `json:"limit"`
	Offset    int                   `json:"offset"`
}

// IncidentDetail is what the incident page shows: the newest evidence version, its review and the review's
// history (newest first), and the user's last logins.
type IncidentDetail struct {
	Incident      chstore.IncidentRow `json:"incident"`
	Review        *Review             `json:"review"`   // null until someone reviews it
	Revision      uint64              `json:"revision"` // send it back with a review (0: not reviewed yet)
	ReviewHistory []Review            `json:"review_history"`
	Logins        []chstore.LoginRow  `json:"logins"`
	StepUps       []chstore.StepUpRow `json:"step_ups"` // mailbox 2FA step-up outcomes while it was open, newest first
}

var statuses = []string{StatusOpen, StatusAcknowledged, StatusResolved}

// incidentFilter reads the list's query parameters.
func incidentFilter(r *http.Request) (chstore.IncidentFilter, error) {
	q := newQuery(r, "status", "rule", "domain", "user", "from", "to", "limit", "offset")
	f := chstore.IncidentFilter{
		Status: q.oneOf("status", statuses...),
		Rule:   q.str("rule", parseRule),
		Domain: q.str("domain", parseDomain),
		User:   q.str("user", parseSearch),
		Limit:  q.int("limit", 50, 1, maxPage),
		Offset: q.int("offset", 0, 0, maxOffset),
	}
	f.From, f.To = q.span()
	return f, q.err
}

// Incidents lists incidents within the caller's domains.
func (s *Server) Incidents(ctx context.Context, p *principal, f chstore.IncidentFilter) (*IncidentPage, error) {
	h, err := s.history()
	if err != nil {
		return nil, err
	}
	f.Domains = domainLimit(p)
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	rows, total, err := h.ListIncidents(ctx, f)
	if err != nil {
		return nil, historyErr(err)
	}
	if f.Limit == 0 {
		f.Limit = 50
	}
	return &IncidentPage{Incidents: rows, Total: total, Limit: f.Limit, Offset: f.Offset}, nil
}

// IncidentSummary counts incidents within the caller's domains (for the banner: Unreviewed).
func (s *Server) IncidentSummary(ctx context.Context, p *principal, f chstore.IncidentFilter) (*chstore.IncidentSummary, error) {
	h, err := s.history()
	if err != nil {
		return nil, err
	}
	f.Domains = domainLimit(p)
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	sum, err := h.SummarizeIncidents(ctx, f)
	if err != nil {
		return nil, historyErr(err)
	}
	return &sum, nil
}

var errNoIncident = httpapi.Errorf(http.StatusNotFound, "not_found", "no such incident")

// incident reads one incident within the caller's domains; an incident outside them is "not found".
func (s *Server) incident(ctx context.Context, p *principal, id string) (chstore.IncidentRow, error) {
	if !validIncidentID(id) {
		return chstore.IncidentRow{}, badParam("id", "an incident id: 32 lower-case hex digits")
	}
	h, err := s.history()
	if err != nil {
		return chstore.IncidentRow{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	inc, ok, err := h.GetIncident(ctx, id, domainLimit(p))
	if err != nil {
		return inc, historyErr(err)
	}
	if !ok {
		return inc, errNoIncident
	}
	return inc, nil
}

// Incident returns an incident with its evidence, review and the user's last 50 logins.
func (s *Server) Incident(ctx context.Context, p *principal, id string) (*IncidentDetail, error) {
	inc, err := s.incident(ctx, p, id)
	if err != nil {
		return nil, err
	}
	d := &IncidentDetail{Incident: inc, ReviewHistory: []Review{}}
	rev, hist, err := s.review(ctx, id)
	if err != nil {
		return nil, err
	}
	if rev != nil {
		d.Review, d.Revision, d.ReviewHistory = rev, rev.Revision, hist
		d.Incident.ReviewStatus, d.Incident.Status = rev.Status, rev.Status // the store is ahead of its mirror
	}
	h, _ := s.history() // incident succeeded, so the history is there
	if d.Logins, err = s.logins(ctx, h, p, chstore.LoginFilter{User: inc.User, Limit: 50}); err != nil {
		return nil, err
	}
	if d.StepUps, err = stepUps(ctx, h, id); err != nil {
		return nil, err
	}
	return d, nil
}

// stepUps reads the incident's mailbox 2FA step-up outcomes (its own block of the incident page).
func stepUps(ctx context.Context, h *chstore.Store, id string) ([]chstore.StepUpRow, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	rows, err := h.StepUps(ctx, id)
	if err != nil {
		return nil, historyErr(err)
	}
	return rows, nil
}

func historyErr(err error) error {
	return &httpapi.Error{Status: http.StatusServiceUnavailable, Code: "history_unavailable", Message: "the incident history (ClickHouse) did not answer; try again", Err: err}
}

func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request, p *principal) error {
	f, err := incidentFilter(r)
	if err != nil {
		return err
	}
	page, err := s.Incidents(r.Context(), p, f)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, page)
	return nil
}

func (s *Server) summarizeIncidents(w http.ResponseWriter, r *http.Request, p *principal) error {
	q := newQuery(r, "rule", "domain", "user", "from", "to")
	f := chstore.IncidentFilter{Rule: q.str("rule", parseRule), Domain: q.str("domain", parseDomain), User: q.str("user", parseSearch)}
	f.From, f.To = q.span()
	if q.err != nil {
		return q.err
	}
	sum, err := s.IncidentSummary(r.Context(), p, f)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, sum)
	return nil
}

func (s *Server) getIncident(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := newQuery(r).err; err != nil {
		return err
	}
	d, err := s.Incident(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(d.Revision))
	httpapi.WriteJSON(w, http.StatusOK, d)
	return nil
}
