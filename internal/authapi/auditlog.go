package authapi

import (
	"context"
	"net/http"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/httpapi"
)

// AuditLog returns audit rows, newest first. The audit log spans every domain, so an account limited to some
// domains may not read it.
func (s *Server) AuditLog(ctx context.Context, p *principal, f chstore.AuditFilter) ([]chstore.AuditEntry, uint64, error) {
	if domainLimit(p) != nil {
		return nil, 0, httpapi.Errorf(http.StatusForbidden, "forbidden", "the audit log covers every domain; your account is limited to some")
	}
	h, err := s.history()
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	rows, total, err := h.AuditLog(ctx, f)
	if err != nil {
		return nil, 0, historyErr(err)
	}
	return rows, total, nil
}

func (s *Server) listAuditLog(w http.ResponseWriter, r *http.Request, p *principal) error {
	q := newQuery(r, "actor", "action", "target", "from", "to", "limit", "offset")
	f := chstore.AuditFilter{Actor: q.str("actor", parseName), Action: q.str("action", parseName), Target: q.str("target", parseText),
		Limit: q.int("limit", 50, 1, maxPage), Offset: q.int("offset", 0, 0, maxOffset)}
	f.From, f.To = q.span()
	if q.err != nil {
		return q.err
	}
	rows, total, err := s.AuditLog(r.Context(), p, f)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"entries": rows, "total": total, "limit": f.Limit, "offset": f.Offset})
	return nil
}
