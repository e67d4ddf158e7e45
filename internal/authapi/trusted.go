package authapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"strings"

	"github.com/vigil-ids/vigil/internal/httpapi"
	"github.com/vigil-ids/vigil/internal/netset"
	"github.com/vigil-ids/vigil/internal/trustkv"
)

var errNoTrust = httpapi.Errorf(http.StatusServiceUnavailable, "console_unavailable", "the trusted-network store is not configured on this server")

var reTrustID = regexp.MustCompile(`^[0-9a-f]{16}$`)

// TrustedFilter selects trusted networks. Zero fields do not filter.
type TrustedFilter struct {
	Domain string // ranges of this domain and of its users
	Scope  string // global, domain or user
	Search string // substring of the subject, range, description or creator
	Limit  int    // default 100
	Offset int
}

// TrustedPage is one page of trusted networks.
type TrustedPage struct {
	Networks []netset.Entry `json:"networks"`
	Total    int            `json:"total"`
	Limit    int            `json:"limit"`
	Offset   int            `json:"offset"`
}

// entryDomain is the domain a trusted range belongs to ("" for global ranges).
func entryDomain(e netset.Entry) string {
	switch e.Scope {
	case netset.ScopeDomain:
		return e.Subject
	case netset.ScopeUser:
		return userDomain(e.Subject)
	}
	return ""
}

// visible reports whether the caller may see (and remove) a range: global ranges only without a domain limit.
func visible(p *principal, e netset.Entry) bool {
	if domainLimit(p) == nil {
		return true
	}
	return e.Scope != netset.ScopeGlobal && mayDomain(p, entryDomain(e))
}

// TrustedNetworks lists the trusted ranges the caller may see, ordered by scope, subject and range.
func (s *Server) TrustedNetworks(ctx context.Context, p *principal, f TrustedFilter) (*TrustedPage, error) {
	ts := s.opts.Console.Trust
	if ts == nil {
		return nil, errNoTrust
	}
	all, err := ts.List(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	out := []netset.Entry{}
	for _, e := range all {
		if !visible(p, e) || (f.Domain != "" && entryDomain(e) != f.Domain) || (f.Scope != "" && string(e.Scope) != f.Scope) {
			continue
		}
		if f.Search != "" && !strings.Contains(strings.ToLower(e.Subject+" "+e.Prefix.String()+" "+e.Description+" "+e.CreatedBy), f.Search) {
			continue
		}
		out = append(out, e)
	}
	page := &TrustedPage{Total: len(out), Limit: f.Limit, Offset: f.Offset}
	lo, hi := min(f.Offset, len(out)), min(f.Offset+f.Limit, len(out))
	page.Networks = out[lo:hi]
	return page, nil
}

// TrustRequest marks an address (or its network) as safe.
type TrustRequest struct {
	Prefix      string `json:"prefix"`           // an address, or a network: IPv4 /22-/31 or /17, IPv6 /32-/64
	Scope       string `json:"scope,omitempty"`  // user (default), domain or global (admins only)
	User        string `json:"user,omitempty"`   // the user (scope user; with scope domain, names the domain)
	Domain      string `json:"domain,omitempty"` // the domain (scope domain; default: the user's)
	Description string `json:"description"`      // mandatory: who or what this network is
}

// safePrefix parses a range to mark as safe: the address alone, or its network within the widths an operator
// picks from a login row (IPv4 /31 to /22, and /17 for large providers' ranges; IPv6 /64 to /32).
func safePrefix(s string) (netip.Prefix, error) {
	pfx, err := netset.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return pfx, badParam("prefix", err.Error())
	}
	b := pfx.Bits()
	if pfx.Addr().Is4() {
		if b == 32 || (b >= 22 && b <= 31) || b == 17 {
			return pfx, nil
		}
		return pfx, badParam("prefix", fmt.Sprintf("/%d: an IPv4 address alone (/32), a network from /31 to /22, or a large provider's /17", b))
	}
	if b == 128 || (b >= 32 && b <= 64) {
		return pfx, nil
	}
	return pfx, badParam("prefix", fmt.Sprintf("/%d: an IPv6 address alone (/128) or a network from /64 to /32", b))
}

// MarkSafe adds a trusted range; the detector's watcher applies it within a second.
func (s *Server) MarkSafe(ctx context.Context, r *http.Request, p *principal, req TrustRequest) (*netset.Entry, error) {
	if err := canAct(p, "trusted"); err != nil {
		return nil, err
	}
	ts := s.opts.Console.Trust
	if ts == nil {
		return nil, errNoTrust
	}
	pfx, err := safePrefix(req.Prefix)
	if err != nil {
		return nil, err
	}
	e := netset.Entry{Prefix: pfx, Description: req.Description, CreatedBy: p.account.Username, CreatedAt: s.opts.Now().UTC().Truncate(1e9)}
	var user, domain string
	if req.User != "" {
		if user, err = parseUser("user", req.User); err != nil {
			return nil, err
		}
	}
	if req.Domain != "" {
		if domain, err = parseDomain("domain", req.Domain); err != nil {
			return nil, err
		}
	}
	switch req.Scope {
	case "", "user":
		if user == "" || domain != "" {
			return nil, badParam("user", "scope user needs the user (and no domain)")
		}
		e.Scope, e.Subject = netset.ScopeUser, user
	case "domain":
		if domain == "" {
			domain = userDomain(user)
		}
		if domain == "" || (user != "" && userDomain(user) != domain) {
			return nil, badParam("domain", "scope domain needs the domain (or a user of it)")
		}
		e.Scope, e.Subject = netset.ScopeDomain, domain
	case "global":
		if p.account.Role != RoleAdmin || domainLimit(p) != nil {
			return nil, httpapi.Errorf(http.StatusForbidden, "forbidden", "only admins without a domain limit may trust a range for everyone")
		}
		e.Scope = netset.ScopeGlobal
	default:
		return nil, badParam("scope", "one of user, domain, global")
	}
	if e.Scope != netset.ScopeGlobal && !mayDomain(p, entryDomain(e)) {
		return nil, httpapi.Errorf(http.StatusForbidden, "forbidden", "this domain is not one of yours")
	}
	if err := e.Normalise(); err != nil {
		return nil, httpapi.Errorf(http.StatusBadRequest, "bad_entry", err.Error())
	}
	added, err := ts.Add(ctx, e)
	if errors.Is(err, trustkv.ErrDuplicate) {
		return nil, httpapi.Errorf(http.StatusConflict, "duplicate", err.Error())
	}
	if err != nil {
		return nil, unavailable(err)
	}
	s.cm.trusted.WithLabelValues("add").Inc()
	s.record(r, "trusted_network_add", p.account.Username, added.ID, "success", "", string(jsonMarshal(added)))
	return &added, nil
}

// RemoveTrusted deletes a trusted range the caller may see.
func (s *Server) RemoveTrusted(ctx context.Context, r *http.Request, p *principal, id string) error {
	if err := canAct(p, "trusted"); err != nil {
		return err
	}
	ts := s.opts.Console.Trust
	if ts == nil {
		return errNoTrust
	}
	if !reTrustID.MatchString(id) {
		return badParam("id", "a trusted network id: 16 lower-case hex digits")
	}
	all, err := ts.List(ctx)
	if err != nil {
		return unavailable(err)
	}
	for _, e := range all {
		if e.ID != id || !visible(p, e) {
			continue
		}
		if e.Scope == netset.ScopeGlobal && p.account.Role != RoleAdmin {
			return httpapi.Errorf(http.StatusForbidden, "forbidden", "only admins may remove a range trusted for everyone")
		}
		if err := ts.Remove(ctx, id); err != nil && !errors.Is(err, trustkv.ErrNotFound) {
			return unavailable(err)
		}
		s.cm.trusted.WithLabelValues("remove").Inc()
		s.record(r, "trusted_network_remove", p.account.Username, id, "success", string(jsonMarshal(e)), "")
		return nil
	}
	return httpapi.Errorf(http.StatusNotFound, "not_found", "no such trusted network")
}

func (s *Server) listTrusted(w http.ResponseWriter, r *http.Request, p *principal) error {
	q := newQuery(r, "domain", "scope", "q", "limit", "offset")
	f := TrustedFilter{Domain: q.str("domain", parseDomain), Scope: q.oneOf("scope", "global", "domain", "user"), Search: q.str("q", parseSearch),
		Limit: q.int("limit", 100, 1, maxPage), Offset: q.int("offset", 0, 0, maxOffset)}
	if q.err != nil {
		return q.err
	}
	page, err := s.TrustedNetworks(r.Context(), p, f)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, page)
	return nil
}

func (s *Server) addTrusted(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req TrustRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	e, err := s.MarkSafe(r.Context(), r, p, req)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusCreated, e)
	return nil
}

func (s *Server) removeTrusted(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.RemoveTrusted(r.Context(), r, p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
