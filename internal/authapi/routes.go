package authapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/httpapi"
)

// principal is who makes a request: an interactive session or an API key.
type principal struct {
	account   *Account
	token     string // session token (sessions only)
	apiKey    *APIKey
	enrolOnly bool // a role that requires 2FA has not enrolled yet: only enrollment is reachable
}

func (p *principal) scoped(scope string) bool {
	if p.apiKey == nil {
		return true
	}
	for _, s := range p.apiKey.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

type authedFunc func(w http.ResponseWriter, r *http.Request, p *principal) error

// need wraps a handler that requires a full session (or an API key with scope, when scope is not "").
func (s *Server) need(scope string, enrolment bool, h authedFunc) http.Handler {
	return httpapi.Handle(s.logger, func(w http.ResponseWriter, r *http.Request) error {
		p, err := s.authenticate(r)
		if err != nil {
			return err
		}
		if p.apiKey != nil && (scope == "" || !p.scoped(scope)) {
			return httpapi.Errorf(http.StatusForbidden, "forbidden", "this API key is not allowed here")
		}
		if p.enrolOnly && !enrolment {
			return httpapi.Errorf(http.StatusForbidden, "enrollment_required", "your role requires two-factor authentication: enroll first")
		}
		return h(w, r, p)
	})
}

const cookieName = "vigil_session"

func bearer(r *http.Request) string {
	if t, ok := httpapi.BearerToken(r); ok {
		return t
	}
	if c, err := r.Cookie(cookieName); err == nil {
		return c.Value
	}
	return ""
}

var errUnauthenticated = httpapi.Errorf(http.StatusUnauthorized, "unauthenticated", "a valid session or API key is required")

func (s *Server) authenticate(r *http.Request) (*principal, error) {
	tok := bearer(r)
	if tok == "" || len(tok) > 256 {
		return nil, errUnauthenticated
	}
	ctx := r.Context()
	if strings.HasPrefix(tok, "vk_") {
		e, err := s.st.apikeys.Get(ctx, tokenKey(tok))
		if err != nil {
			return nil, errUnauthenticated
		}
		var k APIKey
		if err := jsonUnmarshal(e.Value(), &k); err != nil {
			return nil, errUnauthenticated
		}
		a, _, err := s.st.account(ctx, k.Account)
		if err != nil {
			return nil, errUnauthenticated
		}
		return &principal{account: a, apiKey: &k}, nil
	}
	e, err := s.st.sessions.Get(ctx, tokenKey(tok))
	if err != nil {
		return nil, errUnauthenticated
	}
	var ses session
	if err := jsonUnmarshal(e.Value(), &ses); err != nil || ses.Ticket {
		return nil, errUnauthenticated // a second-factor ticket opens nothing but the second-factor step
	}
	now := s.opts.Now()
	if now.Sub(ses.Created) >= s.opts.SessionTTL || now.Sub(ses.LastSeen) >= s.opts.IdleTimeout {
		s.st.sessions.Delete(ctx, tokenKey(tok))
		return nil, errUnauthenticated
	}
	a, _, err := s.st.account(ctx, ses.Account)
	if err != nil || ses.Epoch != a.Epoch {
		return nil, errUnauthenticated
	}
	if now.Sub(ses.LastSeen) > time.Minute {
		ses.LastSeen = now
		s.st.sessions.Put(ctx, tokenKey(tok), jsonMarshal(ses))
	}
	return &principal{account: a, token: tok, enrolOnly: s.requires2FA(a.Role) && a.TOTP == nil}, nil
}

// newSession stores a session (or a ticket) for an account and returns its token.
func (s *Server) newSession(ctx context.Context, a *Account, ticket bool) (string, error) {
	prefix := "vs_"
	if ticket {
		prefix = "vt_"
	}
	tok := randomToken(prefix)
	now := s.opts.Now()
	if _, err := s.st.sessions.Create(ctx, tokenKey(tok), jsonMarshal(session{Account: a.Username, Ticket: ticket, Epoch: a.Epoch, Created: now, LastSeen: now})); err != nil {
		return "", err
	}
	return tok, nil
}

// takeTicket consumes a second-factor ticket exactly once (delete with the revision read).
func (s *Server) takeTicket(ctx context.Context, tok string) (*session, error) {
	if !strings.HasPrefix(tok, "vt_") || len(tok) > 256 {
		return nil, errInvalid
	}
	e, err := s.st.sessions.Get(ctx, tokenKey(tok))
	if err != nil {
		return nil, errInvalid
	}
	var ses session
	if jsonUnmarshal(e.Value(), &ses) != nil || !ses.Ticket || s.opts.Now().Sub(ses.Created) >= s.opts.TicketTTL {
		return nil, errInvalid
	}
	if err := s.st.sessions.Delete(ctx, tokenKey(tok), jetstream.LastRevision(e.Revision())); err != nil {
		return nil, errInvalid // someone else used it
	}
	return &ses, nil
}

func (s *Server) setCookie(w http.ResponseWriter, tok string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: tok, Path: "/", HttpOnly: true, Secure: !s.opts.Insecure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(maxAge / time.Second)})
}

func (s *Server) routes() {
	mux := http.NewServeMux()
	h := func(f httpapi.HandlerFunc) http.Handler { return httpapi.Handle(s.logger, f) }
	mux.Handle("POST /v1/auth/login", h(s.login))
	mux.Handle("POST /v1/auth/second-factor", h(s.secondFactor))
	mux.Handle("POST /v1/auth/logout", s.need("", true, s.logout))
	mux.Handle("POST /v1/auth/logout-all", s.need("", true, s.logoutAll))
	mux.Handle("GET /v1/me", s.need("read", true, s.me))
	mux.Handle("POST /v1/2fa/enroll", s.need("", true, s.enroll))
	mux.Handle("POST /v1/2fa/confirm", s.need("", true, s.confirm))
	mux.Handle("POST /v1/2fa/disable", s.need("", false, s.disable))
	mux.Handle("POST /v1/2fa/recovery-codes", s.need("", false, s.regenerate))
	mux.Handle("GET /v1/allowlist", s.need("allowlist", false, s.listAllow))
	mux.Handle("POST /v1/allowlist", s.need("allowlist", false, s.addAllow))
	mux.Handle("PUT /v1/allowlist/{id}", s.need("allowlist", false, s.updateAllow))
	mux.Handle("DELETE /v1/allowlist/{id}", s.need("allowlist", false, s.removeAllow))
	mux.Handle("PUT /v1/allowlist/restricted", s.need("allowlist", false, s.restrict))
	mux.Handle("POST /v1/allowlist/test", s.need("allowlist", false, s.testAllow))
	mux.HandleFunc("GET /v1/allowlist/check", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent) // GET is answered before the mux; HEAD gets here only when allowed
	})
	mux.Handle("POST /v1/apikeys", s.need("", false, s.createKey))
	mux.Handle("DELETE /v1/apikeys/{id}", s.need("", false, s.revokeKey))
	mux.Handle("POST /v1/accounts", s.need("accounts", false, s.createAccount))
	s.consoleRoutes(mux)
	s.mux = mux
}
