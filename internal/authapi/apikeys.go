package authapi

import (
	"net/http"
	"slices"

	"github.com/vigil-ids/vigil/internal/httpapi"
)

// Scopes an API key can carry.
var scopes = []string{"read", "allowlist", "accounts", "incidents", "trusted", ScopeDecisions, ScopeMailbox2FA}

// subAdminScopes are the scopes a sub-admin's key may carry (reviews, trusted networks and decisions within its
// domains).
var subAdminScopes = []string{"read", "incidents", "trusted", ScopeDecisions}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request, p *principal) error {
	if p.account.Role == RoleViewer {
		return errForbidden
	}
	var req struct {
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Name == "" || len(req.Name) > 100 || !printable(req.Name) {
		return httpapi.Errorf(http.StatusBadRequest, "bad_request", "name: 1-100 bytes of printable UTF-8")
	}
	for _, sc := range req.Scopes {
		if !slices.Contains(scopes, sc) || (!slices.Contains(subAdminScopes, sc) && p.account.Role != RoleAdmin) {
			return httpapi.Errorf(http.StatusBadRequest, "bad_scope", "scopes: read, incidents, trusted, decisions, allowlist, accounts, mailbox-2fa (the last three for admins)")
		}
	}
	key := randomToken("vk_")
	k := APIKey{ID: randomToken("")[:16], Account: p.account.Username, Name: req.Name, Scopes: req.Scopes, Created: s.opts.Now().UTC()}
	if _, err := s.st.apikeys.Create(r.Context(), tokenKey(key), jsonMarshal(k)); err != nil {
		return err
	}
	s.record(r, "apikey_created", p.account.Username, k.ID, "success", "", string(jsonMarshal(k)))
	httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"id": k.ID, "key": key, "scopes": k.Scopes})
	return nil
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request, p *principal) error {
	id := r.PathValue("id")
	ctx := r.Context()
	lister, err := s.st.apikeys.ListKeys(ctx)
	if err != nil {
		return err
	}
	for key := range lister.Keys() {
		e, err := s.st.apikeys.Get(ctx, key)
		if err != nil {
			continue
		}
		var k APIKey
		if jsonUnmarshal(e.Value(), &k) != nil || k.ID != id {
			continue
		}
		if k.Account != p.account.Username && p.account.Role != RoleAdmin {
			return errForbidden
		}
		if err := s.st.apikeys.Delete(ctx, key); err != nil {
			return err
		}
		s.record(r, "apikey_revoked", p.account.Username, k.ID, "success", string(jsonMarshal(k)), "")
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return httpapi.Errorf(http.StatusNotFound, "not_found", "no such API key")
}
