package authapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/httpapi"
)

// ScopeDecisions is the API-key scope that adds and lifts containment decisions.
const ScopeDecisions = "decisions"

var errNoDecisions = httpapi.Errorf(http.StatusServiceUnavailable, "console_unavailable", "the decision store is not configured on this server")

// DecisionView is a decision as the API shows it: the record and its state at the time of the answer.
type DecisionView struct {
	decision.Decision
	State decision.State `json:"state"`
}

// DecisionPage is one page of decisions, newest first.
type DecisionPage struct {
	Decisions []DecisionView `json:"decisions"`
	Total     int            `json:"total"`
	Limit     int            `json:"limit"`
	Offset    int            `json:"offset"`
}

// decisionVisible reports whether the caller may see (and lift) d: a domain-limited account sees its domains'
// users' decisions and no network decisions (like global trusted ranges).
func decisionVisible(p *principal, d *decision.Decision) bool {
	if domainLimit(p) == nil {
		return true
	}
	return d.Kind == decision.User && d.Domain != "" && mayDomain(p, d.Domain)
}

// mayDecideNetwork reports whether the caller may add or lift a network decision: admins without a domain limit.
func mayDecideNetwork(p *principal) bool { return p.account.Role == RoleAdmin && domainLimit(p) == nil }

func (s *Server) decisions() (*decision.Store, error) {
	if s.opts.Console.Decisions == nil {
		return nil, errNoDecisions
	}
	return s.opts.Console.Decisions, nil
}

func (s *Server) view(d decision.Decision) DecisionView {
	return DecisionView{Decision: d, State: d.State(s.opts.Now())}
}

// Decisions lists the decisions the caller may see that pass f, newest first.
func (s *Server) Decisions(ctx context.Context, p *principal, f decision.Filter, limit, offset int) (*DecisionPage, error) {
	ds, err := s.decisions()
	if err != nil {
		return nil, err
	}
	all, err := ds.List(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	if limit <= 0 {
		limit = 100
	}
	now := s.opts.Now()
	out := []DecisionView{}
	for i := range all {
		if decisionVisible(p, &all[i]) && f.Match(&all[i], now) {
			out = append(out, s.view(all[i]))
		}
	}
	page := &DecisionPage{Total: len(out), Limit: limit, Offset: offset}
	page.Decisions = out[min(offset, len(out)):min(offset+limit, len(out))]
	return page, nil
}

// DecisionRequest is an admin's own decision.
type DecisionRequest struct {
	Kind    string `json:"kind"`    // user or network
	Subject string `json:"subject"` // a user name, or an address or CIDR network
	Action  string `json:"action"`  // hold_mail, defer_mail, block_login or kick (users); block_login or tarpit (networks)
	Delay   int    `json:"delay_seconds,omitempty"`
	Reason  string `json:"reason"` // mandatory; the mail client is shown it
	// ExpiresIn (a Go duration like "4h") or ExpiresAt (RFC 3339) bounds it; neither: decision.DefaultExpiry.
	ExpiresIn string     `json:"expires_in,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// invalidDecision turns a decision.ErrInvalid error ("invalid decision: field: message") into a 400 naming the field.
func invalidDecision(err error) error {
	if !errors.Is(err, decision.ErrInvalid) {
		return err
	}
	msg := strings.TrimPrefix(err.Error(), decision.ErrInvalid.Error()+": ")
	return httpapi.Errorf(http.StatusBadRequest, "bad_parameter", msg)
}

// decisionFromRequest validates an admin's request into a normalised decision made by by at now; every refusal is
// a 400 naming the field.
func decisionFromRequest(req DecisionRequest, by string, now time.Time) (decision.Decision, error) {
	if strings.TrimSpace(req.Reason) == "" {
		return decision.Decision{}, badParam("reason", "required: why (the mail client is shown it)")
	}
	now = now.UTC().Truncate(time.Second)
	d := decision.Decision{Kind: decision.Kind(req.Kind), Subject: req.Subject, Action: decision.Action(req.Action), Delay: req.Delay,
		Reason: strings.TrimSpace(req.Reason), CreatedBy: by, CreatedAt: now}
	switch {
	case req.ExpiresIn != "" && req.ExpiresAt != nil:
		return d, badParam("expires_in", "give expires_in or expires_at, not both")
	case req.ExpiresIn != "":
		dur, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || dur < time.Minute || dur > decision.MaxDuration {
			return d, badParam("expires_in", "a duration from 1m to "+decision.MaxDuration.String()+", like 30m, 4h or 168h")
		}
		d.ExpiresAt = now.Add(dur)
	case req.ExpiresAt != nil:
		if !req.ExpiresAt.After(now) {
			return d, badParam("expires_at", "must be in the future")
		}
		d.ExpiresAt = *req.ExpiresAt
	}
	// An admin's decisions are distinct records, even two alike in one second: the id's cause is random.
	d.ID = decision.ID(d.Kind, strings.ToLower(strings.TrimSpace(d.Subject)), d.Action, "admin:"+randomToken(""))
	if err := d.Normalise(now); err != nil {
		return d, invalidDecision(err)
	}
	return d, nil
}

// AddDecision stores an admin's decision, audited with its record.
func (s *Server) AddDecision(ctx context.Context, r *http.Request, p *principal, req DecisionRequest) (*DecisionView, error) {
	if err := canAct(p, ScopeDecisions); err != nil {
		return nil, err
	}
	ds, err := s.decisions()
	if err != nil {
		return nil, err
	}
	d, err := decisionFromRequest(req, p.account.Username, s.opts.Now())
	if err != nil {
		return nil, err
	}
	if d.Kind == decision.Network && !mayDecideNetwork(p) {
		return nil, httpapi.Errorf(http.StatusForbidden, "forbidden", "only admins without a domain limit may decide on a network")
	}
	if d.Kind == decision.User && domainLimit(p) != nil && (d.Domain == "" || !mayDomain(p, d.Domain)) {
		return nil, httpapi.Errorf(http.StatusForbidden, "forbidden", "this user's domain is not one of yours")
	}
	stored, created, err := ds.Put(ctx, d)
	if errors.Is(err, decision.ErrInvalid) {
		return nil, invalidDecision(err)
	}
	if err != nil {
		return nil, unavailable(err)
	}
	if !created {
		return nil, httpapi.Errorf(http.StatusConflict, "duplicate", "a decision with this id exists already")
	}
	s.cm.decisions.WithLabelValues("add").Inc()
	s.record(r, "decision_add", p.account.Username, stored.ID, "success", "", string(jsonMarshal(stored)))
	v := s.view(stored)
	return &v, nil
}

// Decision returns one decision the caller may see.
func (s *Server) Decision(ctx context.Context, p *principal, id string) (*DecisionView, error) {
	ds, err := s.decisions()
	if err != nil {
		return nil, err
	}
	if !validIncidentID(id) { // the same shape: 32 lower-case hex digits
		return nil, badParam("id", "a decision id: 32 lower-case hex digits")
	}
	d, err := ds.Get(ctx, id)
	if errors.Is(err, decision.ErrNotFound) || (err == nil && !decisionVisible(p, &d)) {
		return nil, httpapi.Errorf(http.StatusNotFound, "not_found", "no such decision")
	}
	if err != nil {
		return nil, unavailable(err)
	}
	v := s.view(d)
	return &v, nil
}

// LiftDecision lifts a decision the caller may see, with a reason, audited with the record before and after.
func (s *Server) LiftDecision(ctx context.Context, r *http.Request, p *principal, id, reason string) (*DecisionView, error) {
	if err := canAct(p, ScopeDecisions); err != nil {
		return nil, err
	}
	ds, err := s.decisions()
	if err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return nil, badParam("reason", "required: why the decision is lifted")
	}
	if err := decision.CheckLiftReason(reason); err != nil {
		return nil, invalidDecision(err)
	}
	before, err := s.Decision(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if before.Kind == decision.Network && !mayDecideNetwork(p) {
		return nil, httpapi.Errorf(http.StatusForbidden, "forbidden", "only admins without a domain limit may lift a network decision")
	}
	switch before.State {
	case decision.StateLifted:
		return nil, httpapi.Errorf(http.StatusConflict, "already_lifted", "the decision was lifted already by "+before.LiftedBy)
	case decision.StateExpired:
		return nil, httpapi.Errorf(http.StatusConflict, "expired", "the decision has expired; there is nothing to lift")
	}
	lifted, err := ds.Lift(ctx, id, p.account.Username, reason)
	switch {
	case errors.Is(err, decision.ErrLifted):
		return nil, httpapi.Errorf(http.StatusConflict, "already_lifted", "the decision was lifted meanwhile by "+lifted.LiftedBy)
	case errors.Is(err, decision.ErrNotFound):
		return nil, httpapi.Errorf(http.StatusNotFound, "not_found", "no such decision")
	case errors.Is(err, decision.ErrConflict):
		return nil, httpapi.Errorf(http.StatusConflict, "conflict", "the decision changed concurrently; try again")
	case errors.Is(err, decision.ErrInvalid):
		return nil, invalidDecision(err)
	case err != nil:
		return nil, unavailable(err)
	}
	s.cm.decisions.WithLabelValues("lift").Inc()
	s.record(r, "decision_lift", p.account.Username, id, "success", string(jsonMarshal(before.Decision)), string(jsonMarshal(lifted)))
	v := s.view(lifted)
	return &v, nil
}

func (s *Server) decisionRoutes(mux *http.ServeMux) {
	mux.Handle("GET /v1/decisions", s.need("read", false, s.listDecisions))
	mux.Handle("POST /v1/decisions", s.need(ScopeDecisions, false, s.addDecision))
	mux.Handle("GET /v1/decisions/{id}", s.need("read", false, s.getDecision))
	mux.Handle("DELETE /v1/decisions/{id}", s.need(ScopeDecisions, false, s.liftDecision))
}

func parseIncidentID(name, v string) (string, error) {
	if !validIncidentID(v) {
		return "", badParam(name, "an incident id: 32 lower-case hex digits")
	}
	return v, nil
}

func parseSubject(name, v string) (string, error) {
	v = strings.ToLower(strings.TrimSpace(v))
	if len(v) > 320 || !printable(v) || strings.ContainsAny(v, " \t\"'\\") {
		return "", badParam(name, "a user name, an address or a network: at most 320 bytes of printable UTF-8 without spaces or quotes")
	}
	return v, nil
}

func stateNames() []string {
	out := []string{"all"}
	for _, st := range decision.States {
		out = append(out, string(st))
	}
	return out
}

func actionNames() []string {
	out := make([]string, len(decision.Actions))
	for i, a := range decision.Actions {
		out[i] = string(a)
	}
	return out
}

func (s *Server) listDecisions(w http.ResponseWriter, r *http.Request, p *principal) error {
	q := newQuery(r, "state", "kind", "subject", "incident", "action", "limit", "offset")
	f := decision.Filter{State: decision.State(q.oneOf("state", stateNames()...)), Kind: decision.Kind(q.oneOf("kind", "user", "network")),
		Subject: q.str("subject", parseSubject), IncidentID: q.str("incident", parseIncidentID), Action: decision.Action(q.oneOf("action", actionNames()...))}
	limit, offset := q.int("limit", 100, 1, maxPage), q.int("offset", 0, 0, maxOffset)
	if q.err != nil {
		return q.err
	}
	switch f.State {
	case "":
		f.State = decision.StateActive
	case "all":
		f.State = ""
	}
	page, err := s.Decisions(r.Context(), p, f, limit, offset)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, page)
	return nil
}

func (s *Server) addDecision(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req DecisionRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	v, err := s.AddDecision(r.Context(), r, p, req)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusCreated, v)
	return nil
}

func (s *Server) getDecision(w http.ResponseWriter, r *http.Request, p *principal) error {
	v, err := s.Decision(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, v)
	return nil
}

// liftDecision reads the reason from a JSON body {"reason": "…"} or, without a body, from the query (?reason=…).
func (s *Server) liftDecision(w http.ResponseWriter, r *http.Request, p *principal) error {
	q := newQuery(r, "reason")
	if q.err != nil {
		return q.err
	}
	reason := q.v.Get("reason")
	var body []byte
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			return httpapi.Errorf(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body is larger than %d bytes", maxBody))
		case err != nil:
			return errBadBody
		}
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if reason != "" {
			return badParam("reason", "give the reason in the body or the query, not both")
		}
		var req struct {
			Reason string `json:"reason"`
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err := decode(r, &req); err != nil {
			return err
		}
		reason = req.Reason
	}
	v, err := s.LiftDecision(r.Context(), r, p, r.PathValue("id"), reason)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, v)
	return nil
}
