package authapi

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/httpapi"
	"github.com/vigil-ids/vigil/internal/password"
	"github.com/vigil-ids/vigil/internal/totp"
)

func (s *Server) record(r *http.Request, action, actor, target, result, before, after string) {
	if s.audit == nil {
		return
	}
	now := s.opts.Now().UTC()
	s.audit.Audit(AuditRecord{EventID: randomToken("a_"), Time: now, Action: action, Actor: actor, ClientIP: clientIP(r).String(),
		Target: target, Result: result, Before: before, After: after})
}

func (s *Server) throttle(r *http.Request) error {
	if ok, retry := s.limiter.allow(clientIP(r)); !ok {
		return &httpapi.Error{Status: http.StatusTooManyRequests, Code: "too_many_requests", Message: "too many attempts from your address", RetryAfter: max(retry, time.Second)}
	}
	return nil
}

// fail counts a failed password or code on the account, locking it with a growing backoff.
func (s *Server) fail(ctx context.Context, r *http.Request, username, action string) {
	a, err := s.st.updateAccount(ctx, username, func(a *Account) error {
		a.Failures++
		if a.Failures >= s.opts.MaxFailures {
			a.LockedUntil = s.opts.Now().Add(min(time.Minute<<min(a.Failures-s.opts.MaxFailures, 10), 24*time.Hour))
		}
		return nil
	})
	s.m.logins.WithLabelValues("failure").Inc()
	s.record(r, action, username, username, "failure", "", "")
	if err == nil && a.Failures >= s.opts.MaxFailures {
		s.m.lockouts.Inc()
		s.record(r, "account_locked", username, username, "locked", "", a.LockedUntil.UTC().Format(time.RFC3339))
	}
}

func (s *Server) locked(a *Account) bool { return s.opts.Now().Before(a.LockedUntil) }

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	if err := s.throttle(r); err != nil {
		return err
	}
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	a, _, err := s.st.account(ctx, req.Username) // an invalid name never reaches the store
	if err := unavailable(err); err != nil {
		return err // an outage is not a wrong password
	}
	if err != nil || s.locked(a) {
		password.Verify(req.Password, s.dummy) // the same cost as a real check
		s.m.logins.WithLabelValues("failure").Inc()
		name := req.Username
		if !validUsername(name) {
			name = "" // neither stored nor logged: anyone can send a megabyte of it
		}
		s.record(r, "login_failure", name, name, "failure", "", "")
		s.adminLogin(req.Username, r, false)
		return errInvalid
	}
	if password.Verify(req.Password, a.PasswordHash) != nil {
		s.fail(ctx, r, a.Username, "login_failure")
		s.adminLogin(a.Username, r, false)
		return errInvalid
	}
	if a.TOTP != nil {
		tok, err := s.newSession(ctx, a, true)
		if err != nil {
			return err
		}
		s.m.logins.WithLabelValues("password_ok").Inc()
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"second_factor_required": true, "ticket": tok, "expires_in": int(s.opts.TicketTTL / time.Second)})
		return nil
	}
	return s.completeLogin(w, r, a)
}

func (s *Server) completeLogin(w http.ResponseWriter, r *http.Request, a *Account) error {
	ctx := r.Context()
	if _, err := s.st.updateAccount(ctx, a.Username, func(a *Account) error { a.Failures, a.LockedUntil = 0, time.Time{}; return nil }); err != nil {
		return err
	}
	tok, err := s.newSession(ctx, a, false)
	if err != nil {
		return err
	}
	s.setCookie(w, tok, s.opts.SessionTTL)
	s.m.logins.WithLabelValues("success").Inc()
	s.record(r, "login_success", a.Username, a.Username, "success", "", "")
	s.adminLogin(a.Username, r, true)
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"session": tok, "enrollment_required": s.requires2FA(a.Role) && a.TOTP == nil})
	return nil
}

func (s *Server) adminLogin(user string, r *http.Request, ok bool) {
	if s.audit != nil && validUsername(user) {
		s.audit.AdminLogin(user, clientIP(r), ok, s.opts.Now())
	}
}

func (s *Server) secondFactor(w http.ResponseWriter, r *http.Request) error {
	if err := s.throttle(r); err != nil {
		return err
	}
	var req struct {
		Ticket       string `json:"ticket"`
		Code         string `json:"code"`
		RecoveryCode string `json:"recovery_code"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	ses, err := s.takeTicket(ctx, req.Ticket)
	if err != nil {
		return err
	}
	a, _, err := s.st.account(ctx, ses.Account)
	if err := unavailable(err); err != nil {
		return err
	}
	if err != nil || s.locked(a) || a.TOTP == nil || ses.Epoch != a.Epoch {
		return errInvalid
	}
	if req.RecoveryCode != "" {
		if err := s.useRecoveryCode(ctx, a.Username, req.RecoveryCode); err != nil {
			s.fail(ctx, r, a.Username, "recovery_code_failure")
			return errInvalid
		}
		s.record(r, "recovery_code_used", a.Username, a.Username, "success", "", "")
		return s.completeLogin(w, r, a)
	}
	if err := s.checkCode(ctx, a.Username, req.Code); err != nil {
		s.fail(ctx, r, a.Username, "second_factor_failure")
		return errInvalid
	}
	return s.completeLogin(w, r, a)
}

// checkCode verifies a TOTP code of the active secret and records its step with compare-and-set, so a code works
// once, even for two concurrent requests.
func (s *Server) checkCode(ctx context.Context, username, code string) error {
	_, err := s.st.updateAccount(ctx, username, func(a *Account) error {
		if a.TOTP == nil || s.locked(a) { // a lock stops every code, also through a session opened before it
			return errInvalid
		}
		secret, err := s.box.Open(a.TOTP.SecretEnc, a.Username)
		if err != nil {
			return err
		}
		step, err := totp.Verify(secret, a.TOTP.Params, code, s.opts.Now(), a.TOTP.LastStep)
		if err != nil {
			return err
		}
		a.TOTP.LastStep = step
		return nil
	})
	return err
}

// Recovery codes: 10 codes of 80 bits from crypto/rand, shown once, stored as argon2id hashes.
const recoveryCodes = 10

var recoveryAlphabet = base32.NewEncoding("abcdefghijkmnpqrstuvwxyz23456789").WithPadding(base32.NoPadding)

func (s *Server) newRecoveryCodes() (plain, hashed []string) {
	s.recoverySets.Add(1)
	for range recoveryCodes {
		b := make([]byte, 10)
		rand.Read(b)
		c := recoveryAlphabet.EncodeToString(b) // 16 characters
		c = c[:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:]
		plain = append(plain, c)
		hashed = append(hashed, password.Hash(c, s.opts.Password))
	}
	return plain, hashed
}

func normaliseRecovery(c string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(c), " ", ""))
}

// useRecoveryCode consumes a matching recovery code with compare-and-set: each code works once.
func (s *Server) useRecoveryCode(ctx context.Context, username, code string) error {
	code = normaliseRecovery(code)
	if len(code) != 19 {
		return errInvalid
	}
	_, err := s.st.updateAccount(ctx, username, func(a *Account) error {
		if s.locked(a) {
			return errInvalid
		}
		match := -1
		for i, h := range a.Recovery {
			if h != "" && password.Verify(code, h) == nil && match < 0 {
				match = i
			}
		}
		if match < 0 {
			return errInvalid
		}
		a.Recovery[match] = ""
		return nil
	})
	return err
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, p *principal) error {
	if p.token != "" {
		s.st.sessions.Delete(r.Context(), tokenKey(p.token))
	}
	s.setCookie(w, "", -time.Second)
	s.record(r, "logout", p.account.Username, p.account.Username, "success", "", "")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) logoutAll(w http.ResponseWriter, r *http.Request, p *principal) error {
	if _, err := s.st.updateAccount(r.Context(), p.account.Username, func(a *Account) error { a.Epoch++; return nil }); err != nil {
		return err
	}
	s.setCookie(w, "", -time.Second)
	s.record(r, "logout_everywhere", p.account.Username, p.account.Username, "success", "", "")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, p *principal) error {
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"username": p.account.Username, "role": p.account.Role,
		"totp_enabled": p.account.TOTP != nil, "enrollment_required": p.enrolOnly, "api_key": p.apiKey != nil,
		"client_ip": clientIP(r).Unmap().String(), "2fa_required": s.requires2FA(p.account.Role)})
	return nil
}

// CreateAccount adds an account (the bootstrap command and POST /v1/accounts).
func (s *Server) CreateAccount(ctx context.Context, username, pw, role string) error {
	if !validUsername(username) {
		return fmt.Errorf("username %q: 1-128 characters without spaces, quotes, ':' or slashes", username)
	}
	if role != RoleAdmin && role != RoleSubAdmin && role != RoleViewer {
		return fmt.Errorf("role %q: want admin, sub-admin or viewer", role)
	}
	if err := password.Check(pw); err != nil {
		return err
	}
	return s.st.createAccount(ctx, &Account{ID: randomToken("acc_")[:20], Username: username, Role: role,
		PasswordHash: password.Hash(pw, s.opts.Password), Created: s.opts.Now().UTC()})
}

var errForbidden = httpapi.Errorf(http.StatusForbidden, "forbidden", "your role may not do this")

func (s *Server) createAccount(w http.ResponseWriter, r *http.Request, p *principal) error {
	if p.account.Role != RoleAdmin {
		return errForbidden
	}
	var req struct {
		Username string   `json:"username"`
		Password string   `json:"password"`
		Role     string   `json:"role"`
		Domains  []string `json:"domains"` // sub-admins and viewers: the only domains they see
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	domains, err := parseDomains(req.Domains)
	if err != nil {
		return err
	}
	if len(domains) > 0 && req.Role == RoleAdmin {
		return badParam("domains", "admins see every domain; limit sub-admins and viewers")
	}
	if err := s.CreateAccount(r.Context(), req.Username, req.Password, req.Role); err != nil {
		return httpapi.Errorf(http.StatusBadRequest, "bad_account", err.Error())
	}
	if len(domains) > 0 {
		if _, err := s.st.updateAccount(r.Context(), req.Username, func(a *Account) error { a.Domains = domains; return nil }); err != nil {
			return err
		}
	}
	s.record(r, "account_created", p.account.Username, req.Username, "success", "", string(jsonMarshal(map[string]any{"role": req.Role, "domains": domains})))
	w.WriteHeader(http.StatusCreated)
	return nil
}
