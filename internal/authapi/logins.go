package authapi

import (
	"context"
	"net/http"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/httpapi"
)

// UserLogins returns a user's logins, newest first, when the user's domain is within the caller's domains.
func (s *Server) UserLogins(ctx context.Context, p *principal, f chstore.LoginFilter) ([]chstore.LoginRow, error) {
	h, err := s.history()
	if err != nil {
		return nil, err
	}
	if !mayDomain(p, userDomain(f.User)) {
		return nil, httpapi.Errorf(http.StatusNotFound, "not_found", "no such user in your domains")
	}
	return s.logins(ctx, h, p, f)
}

// logins reads logins within the caller's domains (rows of other domains are filtered out by the query).
func (s *Server) logins(ctx context.Context, h *chstore.Store, p *principal, f chstore.LoginFilter) ([]chstore.LoginRow, error) {
	f.Domains = domainLimit(p)
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	rows, err := h.UserLogins(ctx, f)
	if err != nil {
		return nil, historyErr(err)
	}
	return rows, nil
}

func (s *Server) listUserLogins(w http.ResponseWriter, r *http.Request, p *principal) error {
	user, err := parseUser("user", r.PathValue("user"))
	if err != nil {
		return err
	}
	q := newQuery(r, "from", "to", "limit", "offset")
	f := chstore.LoginFilter{User: user, Limit: q.int("limit", 50, 1, maxPage), Offset: q.int("offset", 0, 0, maxOffset)}
	f.From, f.To = q.span()
	if q.err != nil {
		return q.err
	}
	rows, err := s.UserLogins(r.Context(), p, f)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"user": user, "logins": rows, "limit": f.Limit, "offset": f.Offset})
	return nil
}
