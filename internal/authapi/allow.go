package authapi

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"

	"github.com/vigil-ids/vigil/internal/allowlist"
	"github.com/vigil-ids/vigil/internal/httpapi"
)

func (s *Server) canManage(p *principal) error {
	if p.apiKey == nil && p.account.Role != RoleAdmin {
		return errForbidden
	}
	if p.apiKey != nil && p.account.Role != RoleAdmin {
		return errForbidden
	}
	return nil
}

func allowErr(err error) error {
	switch {
	case errors.Is(err, allowlist.ErrEmpty), errors.Is(err, allowlist.ErrLockout):
		return httpapi.Errorf(http.StatusConflict, "lockout_refused", err.Error())
	case errors.Is(err, allowlist.ErrNotFound):
		return httpapi.Errorf(http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, allowlist.ErrDuplicate), errors.Is(err, allowlist.ErrBadEntry):
		return httpapi.Errorf(http.StatusBadRequest, "bad_entry", err.Error())
	}
	return err
}

func (s *Server) listAllow(w http.ResponseWriter, r *http.Request, p *principal) error {
	l, _, err := s.st.allowlist(r.Context())
	if err != nil {
		return err
	}
	if l.Entries == nil {
		l.Entries = []allowlist.Entry{}
	}
	httpapi.WriteJSON(w, http.StatusOK, l)
	return nil
}

type entryRequest struct {
	Prefix      string `json:"prefix"`
	Description string `json:"description"`
}

func (s *Server) changeAllow(w http.ResponseWriter, r *http.Request, p *principal, action string, fn func(*allowlist.List) error) error {
	if err := s.canManage(p); err != nil {
		return err
	}
	before, after, err := s.st.updateAllowlist(r.Context(), fn)
	if err != nil {
		s.record(r, action, p.account.Username, "allowlist", "refused", "", err.Error())
		return allowErr(err)
	}
	s.record(r, action, p.account.Username, "allowlist", "success", string(jsonMarshal(before)), string(jsonMarshal(after)))
	httpapi.WriteJSON(w, http.StatusOK, after)
	return nil
}

func (s *Server) addAllow(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req entryRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	pfx, desc, err := allowlist.ParseEntry(req.Prefix, req.Description)
	if err != nil {
		return allowErr(err)
	}
	e := allowlist.Entry{ID: randomToken("")[:16], Prefix: pfx, Description: desc, CreatedAt: s.opts.Now().UTC(), CreatedBy: p.account.Username}
	return s.changeAllow(w, r, p, "allowlist_add", func(l *allowlist.List) error { return l.Add(e) })
}

func (s *Server) updateAllow(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req entryRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	pfx, desc, err := allowlist.ParseEntry(req.Prefix, req.Description)
	if err != nil {
		return allowErr(err)
	}
	id := r.PathValue("id")
	return s.changeAllow(w, r, p, "allowlist_update", func(l *allowlist.List) error { return l.Update(id, pfx, desc, clientIP(r)) })
}

func (s *Server) removeAllow(w http.ResponseWriter, r *http.Request, p *principal) error {
	id := r.PathValue("id")
	return s.changeAllow(w, r, p, "allowlist_remove", func(l *allowlist.List) error {
		_, err := l.Remove(id, clientIP(r))
		return err
	})
}

func (s *Server) restrict(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req struct {
		Restricted *bool `json:"restricted"`
	}
	if err := decode(r, &req); err != nil || req.Restricted == nil {
		return httpapi.Errorf(http.StatusBadRequest, "bad_request", `want {"restricted": true|false}`)
	}
	return s.changeAllow(w, r, p, "allowlist_restricted", func(l *allowlist.List) error { return l.SetRestricted(*req.Restricted, clientIP(r)) })
}

func (s *Server) testAllow(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req struct {
		IP string `json:"ip"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	ip, err := netip.ParseAddr(strings.TrimSpace(req.IP))
	if err != nil || ip.Zone() != "" {
		return httpapi.Errorf(http.StatusBadRequest, "bad_ip", "ip must be an IPv4 or IPv6 address")
	}
	l, _, err := s.st.allowlist(r.Context())
	if err != nil {
		return err
	}
	covered := (&allowlist.List{Restricted: true, Entries: l.Entries}).Allows(ip)
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"ip": ip.Unmap().String(), "allowed": l.Allows(ip), "in_list": covered, "restricted": l.Restricted})
	return nil
}
