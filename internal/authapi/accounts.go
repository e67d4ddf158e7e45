package authapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/vigil-ids/vigil/internal/httpapi"
)

// maxDomains bounds an account's domain limit.
const maxDomains = 1000

// AccountInfo is an account as the console lists it (no hashes, no secrets).
type AccountInfo struct {
	Username    string    `json:"username"`
	Role        string    `json:"role"`
	Domains     []string  `json:"domains"` // empty: every domain
	TOTPEnabled bool      `json:"totp_enabled"`
	LockedUntil time.Time `json:"locked_until,omitzero"`
	Created     time.Time `json:"created"`
}

func accountInfo(a *Account) AccountInfo {
	d := a.Domains
	if d == nil {
		d = []string{}
	}
	return AccountInfo{Username: a.Username, Role: a.Role, Domains: d, TOTPEnabled: a.TOTP != nil, LockedUntil: a.LockedUntil, Created: a.Created}
}

// parseDomains validates, lower-cases, sorts and de-duplicates a domain limit.
func parseDomains(in []string) ([]string, error) {
	if len(in) > maxDomains {
		return nil, badParam("domains", fmt.Sprintf("at most %d", maxDomains))
	}
	out := []string{}
	for _, d := range in {
		v, err := parseDomain("domains", d)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func adminOnly(p *principal) error {
	if p.account.Role != RoleAdmin || domainLimit(p) != nil {
		return errForbidden
	}
	return nil
}

// Accounts lists every account, by name (admins only).
func (s *Server) Accounts(ctx context.Context, p *principal) ([]AccountInfo, error) {
	if err := adminOnly(p); err != nil {
		return nil, err
	}
	lister, err := s.st.accounts.ListKeys(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	out := []AccountInfo{}
	for key := range lister.Keys() {
		e, err := s.st.accounts.Get(ctx, key)
		if err != nil {
			continue
		}
		var a Account
		if jsonUnmarshal(e.Value(), &a) == nil {
			out = append(out, accountInfo(&a))
		}
	}
	slices.SortFunc(out, func(a, b AccountInfo) int { return cmpString(a.Username, b.Username) })
	return out, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// SetDomains limits a sub-admin or viewer to domains (empty: every domain) and audits the change.
func (s *Server) SetDomains(ctx context.Context, r *http.Request, p *principal, username string, domains []string) (*AccountInfo, error) {
	if err := adminOnly(p); err != nil {
		return nil, err
	}
	domains, err := parseDomains(domains)
	if err != nil {
		return nil, err
	}
	var before []string
	a, err := s.st.updateAccount(ctx, username, func(a *Account) error {
		if a.Role == RoleAdmin {
			return httpapi.Errorf(http.StatusBadRequest, "bad_account", "admins see every domain; make the account a sub-admin or viewer to limit it")
		}
		before, a.Domains = a.Domains, domains
		if len(domains) == 0 {
			a.Domains = nil
		}
		return nil
	})
	if err != nil {
		return nil, accountErr(err)
	}
	s.record(r, "account_domains", p.account.Username, username, "success", string(jsonMarshal(before)), string(jsonMarshal(a.Domains)))
	info := accountInfo(a)
	return &info, nil
}

// ResetTwoFA removes another account's second factor and recovery codes and ends its sessions, so it must enroll
// again at its next login. Only an admin in an interactive session may do it, and not for itself (it uses
// POST /v1/2fa/disable with a code).
func (s *Server) ResetTwoFA(ctx context.Context, r *http.Request, p *principal, username string) error {
	if err := adminOnly(p); err != nil {
		return err
	}
	if username == p.account.Username {
		return httpapi.Errorf(http.StatusBadRequest, "bad_account", "reset your own second factor with POST /v1/2fa/disable")
	}
	if _, err := s.st.updateAccount(ctx, username, func(a *Account) error {
		a.TOTP, a.Pending, a.Recovery = nil, nil, nil
		a.Epoch++
		return nil
	}); err != nil {
		return accountErr(err)
	}
	s.m.twofa.WithLabelValues("reset").Inc()
	s.record(r, "2fa_reset", p.account.Username, username, "success", "", "")
	return nil
}

func accountErr(err error) error {
	var he *httpapi.Error
	if errors.As(err, &he) {
		return he
	}
	if e := unavailable(err); e != nil {
		return e
	}
	return httpapi.Errorf(http.StatusNotFound, "not_found", "no such account")
}

// APIKeys lists the caller's API keys (an admin's list holds every account's).
func (s *Server) APIKeys(ctx context.Context, p *principal) ([]APIKey, error) {
	lister, err := s.st.apikeys.ListKeys(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	all := p.account.Role == RoleAdmin && domainLimit(p) == nil
	out := []APIKey{}
	for key := range lister.Keys() {
		e, err := s.st.apikeys.Get(ctx, key)
		if err != nil {
			continue
		}
		var k APIKey
		if jsonUnmarshal(e.Value(), &k) == nil && (all || k.Account == p.account.Username) {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b APIKey) int { return a.Created.Compare(b.Created) })
	return out, nil
}

func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request, p *principal) error {
	as, err := s.Accounts(r.Context(), p)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"accounts": as})
	return nil
}

func (s *Server) setAccountDomains(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req struct {
		Domains []string `json:"domains"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Domains == nil {
		return badParam("domains", `want {"domains": [...]} ([] for every domain)`)
	}
	info, err := s.SetDomains(r.Context(), r, p, r.PathValue("username"), req.Domains)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, info)
	return nil
}

func (s *Server) resetAccount2FA(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.ResetTwoFA(r.Context(), r, p, r.PathValue("username")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, p *principal) error {
	ks, err := s.APIKeys(r.Context(), p)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"keys": ks})
	return nil
}
