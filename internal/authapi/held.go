package authapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/httpapi"
	"github.com/vigil-ids/vigil/internal/quarantine"
)

// HeldList is the held mail of an incident.
type HeldList struct {
	Held []chstore.HeldRow `json:"held"`
}

var (
	errNoQuarantine = httpapi.Errorf(http.StatusServiceUnavailable, "quarantine_unavailable", "the mail quarantine is not configured on this server")
	errNoHeld       = httpapi.Errorf(http.StatusNotFound, "not_found", "no such held message")
)

func (s *Server) quarantine() (*quarantine.Manager, error) {
	if s.opts.Console.Quarantine == nil {
		return nil, errNoQuarantine
	}
	return s.opts.Console.Quarantine, nil
}

// IncidentHeld lists the messages held for an incident the caller may see.
func (s *Server) IncidentHeld(ctx context.Context, p *principal, id string) (*HeldList, error) {
	q, err := s.quarantine()
	if err != nil {
		return nil, err
	}
	if _, err := s.incident(ctx, p, id); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	rows, err := q.Held(ctx, id)
	if err != nil {
		return nil, historyErr(err)
	}
	return &HeldList{Held: rows}, nil
}

// heldMessage reads one held message the caller may act on: its incident must be visible to the caller, and a
// domain-limited admin sees only messages of users in their domains.
func (s *Server) heldMessage(ctx context.Context, p *principal, host, queueID string) (chstore.HeldRow, error) {
	if err := quarantine.CheckHost(host); err != nil {
		return chstore.HeldRow{}, badParam("host", err.Error())
	}
	if err := quarantine.CheckQueueID(queueID); err != nil {
		return chstore.HeldRow{}, badParam("queue_id", err.Error())
	}
	q, err := s.quarantine()
	if err != nil {
		return chstore.HeldRow{}, err
	}
	qctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	row, ok, err := q.Message(qctx, host, queueID)
	if err != nil {
		return row, historyErr(err)
	}
	switch {
	case !ok:
		return row, errNoHeld
	case row.IncidentID != "":
		if _, err := s.incident(ctx, p, row.IncidentID); errors.Is(err, errNoIncident) {
			return row, errNoHeld
		} else if err != nil {
			return row, err
		}
	case domainLimit(p) != nil && !mayDomain(p, row.Domain):
		return row, errNoHeld
	}
	return row, nil
}

// ActOnHeld asks the message's mail host to release or delete it (quarantine.ActionRelease, ActionDelete) and
// audits the request; the status becomes release_requested or delete_requested until the host reports back.
func (s *Server) ActOnHeld(r *http.Request, p *principal, host, queueID, action string) (*chstore.HeldRow, error) {
	if err := canAct(p, "incidents"); err != nil {
		return nil, err
	}
	ctx := r.Context()
	row, err := s.heldMessage(ctx, p, host, queueID)
	if err != nil {
		return nil, err
	}
	q, _ := s.quarantine()
	next, err := q.Request(ctx, row, action, p.account.Username)
	auditAction := "held_" + action
	if errors.Is(err, quarantine.ErrFinal) {
		s.record(r, auditAction, p.account.Username, host+"/"+queueID, "refused", string(jsonMarshal(row)), "")
		return nil, httpapi.Errorf(http.StatusConflict, "already_done", "the message is already "+row.Status)
	}
	if err != nil {
		s.record(r, auditAction, p.account.Username, host+"/"+queueID, "failure", string(jsonMarshal(row)), "")
		return nil, &httpapi.Error{Status: http.StatusServiceUnavailable, Code: "quarantine_unavailable", Message: "the " + action + " could not be sent; try again", Err: err}
	}
	s.record(r, auditAction, p.account.Username, host+"/"+queueID, "success", string(jsonMarshal(row)), string(jsonMarshal(next)))
	return &next, nil
}

func (s *Server) listIncidentHeld(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := newQuery(r).err; err != nil {
		return err
	}
	l, err := s.IncidentHeld(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, l)
	return nil
}

func (s *Server) actOnHeld(action string) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, p *principal) error {
		if err := newQuery(r).err; err != nil {
			return err
		}
		row, err := s.ActOnHeld(r, p, r.PathValue("host"), r.PathValue("queue_id"), action)
		if err != nil {
			return err
		}
		httpapi.WriteJSON(w, http.StatusAccepted, row)
		return nil
	}
}

func (s *Server) heldRoutes(mux *http.ServeMux) {
	mux.Handle("GET /v1/incidents/{id}/held", s.need("read", false, s.listIncidentHeld))
	mux.Handle("POST /v1/held/{host}/{queue_id}/release", s.need("incidents", false, s.actOnHeld(quarantine.ActionRelease)))
	mux.Handle("POST /v1/held/{host}/{queue_id}/delete", s.need("incidents", false, s.actOnHeld(quarantine.ActionDelete)))
}

// ReleaseIncident releases every message still held for an incident (the responder calls it when an incident is
// resolved as a false positive); see quarantine.Manager.ReleaseIncident. Without a quarantine it does nothing.
func (s *Server) ReleaseIncident(ctx context.Context, incidentID, by string) error {
	if s.opts.Console.Quarantine == nil {
		return nil
	}
	return s.opts.Console.Quarantine.ReleaseIncident(ctx, incidentID, by)
}
