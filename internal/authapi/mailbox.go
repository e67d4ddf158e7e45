package authapi

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/httpapi"
)

// ScopeMailbox2FA is the API-key scope of a webmail or control panel calling the mailbox-user 2FA endpoints.
const ScopeMailbox2FA = "mailbox-2fa"

// Caller is who called a route mounted by another package: an admin session or an API key.
type Caller struct {
	Actor string // the account name (of the key's owner for an API key)
	Admin bool   // an interactive session of an admin or sub-admin
	Key   bool   // an API key with the requested scope
}

// Authorize authenticates r as an admin or sub-admin session, or as an API key carrying scope.
func (s *Server) Authorize(r *http.Request, scope string) (*Caller, error) {
	p, err := s.authenticate(r)
	if err != nil {
		return nil, err
	}
	if p.apiKey != nil {
		if !p.scoped(scope) {
			return nil, errKeyScope
		}
		return &Caller{Actor: p.account.Username, Key: true}, nil
	}
	if p.enrolOnly || (p.account.Role != RoleAdmin && p.account.Role != RoleSubAdmin) {
		return nil, errForbidden
	}
	return &Caller{Actor: p.account.Username, Admin: true}, nil
}

var errKeyScope = httpapi.Errorf(http.StatusForbidden, "forbidden", "this API key is not allowed here")

func withClientIP(ctx context.Context, ip netip.Addr) context.Context {
	return context.WithValue(ctx, ipKey{}, ip)
}

// Throttle applies the per-client-address limit of the login routes to r (429 with Retry-After when exceeded).
func (s *Server) Throttle(r *http.Request) error { return s.throttle(r) }

// ClientIP is the client address of a request served by the auth API (trusted proxies applied).
func ClientIP(r *http.Request) netip.Addr { return clientIP(r) }

// Record writes an audit record for a mounted route.
func (s *Server) Record(r *http.Request, action, actor, target, result, before, after string) {
	s.record(r, action, actor, target, result, before, after)
}

// Lockout returns how long an account stays locked after failures failed attempts, with the admin side's growing
// backoff (zero below the limit).
func (s *Server) Lockout(failures int) time.Duration {
	if failures < s.opts.MaxFailures {
		return 0
	}
	return min(time.Minute<<min(failures-s.opts.MaxFailures, 10), 24*time.Hour)
}

// Mount adds a handler for pattern behind the admin allow list (the mailbox 2FA API).
func (s *Server) Mount(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// MountPublic serves every path under prefix with h before the admin allow list is checked: pages mailbox users
// open from an e-mailed link.
func (s *Server) MountPublic(prefix string, h http.Handler) {
	s.public = append(s.public, publicRoute{prefix: prefix, h: h})
}

type publicRoute struct {
	prefix string
	h      http.Handler
}

func (s *Server) servePublic(w http.ResponseWriter, r *http.Request) bool {
	for _, p := range s.public {
		if strings.HasPrefix(r.URL.Path, p.prefix) {
			w.Header().Set("Cache-Control", "no-store")
			r = r.WithContext(withClientIP(r.Context(), s.ips.ClientIP(r)))
			p.h.ServeHTTP(w, r)
			return true
		}
	}
	return false
}
