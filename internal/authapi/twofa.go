package authapi

import (
	"encoding/base64"
	"net/http"
	"time"

	"github.com/vigil-ids/vigil/internal/httpapi"
	"github.com/vigil-ids/vigil/internal/totp"
)

// enroll creates a new pending secret (replacing any earlier pending one) and shows it once.
func (s *Server) enroll(w http.ResponseWriter, r *http.Request, p *principal) error {
	if p.apiKey != nil {
		return errForbidden
	}
	if p.account.TOTP != nil {
		return httpapi.Errorf(http.StatusConflict, "already_enabled", "two-factor authentication is already active; disable it first")
	}
	secret := totp.NewSecret()
	uri, err := totp.URI(s.opts.Issuer, p.account.Username, secret, totp.Default)
	if err != nil {
		return err
	}
	png, err := totp.QRPNG(uri, 256)
	if err != nil {
		return err
	}
	expires := s.opts.Now().Add(s.opts.EnrollTTL)
	if _, err := s.st.updateAccount(r.Context(), p.account.Username, func(a *Account) error {
		a.Pending = &TOTPState{SecretEnc: s.box.Seal(secret, a.Username), Params: totp.Default, LastStep: -1, Expires: expires}
		return nil
	}); err != nil {
		return err
	}
	s.m.twofa.WithLabelValues("enroll").Inc()
	s.record(r, "2fa_enroll_started", p.account.Username, p.account.Username, "success", "", "")
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{
		"secret": totp.SecretText(secret), "otpauth_uri": uri, "qr_png_base64": base64.StdEncoding.EncodeToString(png),
		"expires": expires.UTC().Format(time.RFC3339), "algorithm": "SHA1", "digits": 6, "period": 30,
	})
	return nil
}

type codeRequest struct {
	Code string `json:"code"`
}

// confirm activates the pending secret with a valid code, ends the account's other sessions, rotates this one and
// shows the recovery codes once.
func (s *Server) confirm(w http.ResponseWriter, r *http.Request, p *principal) error {
	if p.apiKey != nil {
		return errForbidden
	}
	if err := s.throttle(r); err != nil {
		return err
	}
	var req codeRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	var plain, hashed []string
	now := s.opts.Now()
	a, err := s.st.updateAccount(r.Context(), p.account.Username, func(a *Account) error {
		if a.Pending == nil || !now.Before(a.Pending.Expires) || a.TOTP != nil || s.locked(a) {
			return errInvalid
		}
		secret, err := s.box.Open(a.Pending.SecretEnc, a.Username)
		if err != nil {
			return err
		}
		step, err := totp.Verify(secret, a.Pending.Params, req.Code, now, -1)
		if err != nil {
			return errInvalid
		}
		if hashed == nil { // only after a valid code: hashing ten codes costs ten argon2id runs
			plain, hashed = s.newRecoveryCodes()
		}
		a.TOTP = &TOTPState{SecretEnc: a.Pending.SecretEnc, Params: a.Pending.Params, LastStep: step}
		a.Pending, a.Recovery, a.Failures = nil, hashed, 0
		a.Epoch++ // every other session ends
		return nil
	})
	if err != nil {
		s.fail(r.Context(), r, p.account.Username, "2fa_confirm_failure")
		return errInvalid
	}
	tok, err := s.newSession(r.Context(), a, false)
	if err != nil {
		return err
	}
	s.setCookie(w, tok, s.opts.SessionTTL)
	s.m.twofa.WithLabelValues("enabled").Inc()
	s.record(r, "2fa_enabled", a.Username, a.Username, "success", `{"totp":false}`, `{"totp":true}`)
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"session": tok, "recovery_codes": plain})
	return nil
}

// disable turns 2FA off with a valid current code, unless the account's role requires it.
func (s *Server) disable(w http.ResponseWriter, r *http.Request, p *principal) error {
	if p.apiKey != nil {
		return errForbidden
	}
	if s.requires2FA(p.account.Role) {
		return httpapi.Errorf(http.StatusForbidden, "2fa_required", "your role requires two-factor authentication")
	}
	if err := s.requireCode(r, p, "2fa_disable_failure"); err != nil {
		return err
	}
	if _, err := s.st.updateAccount(r.Context(), p.account.Username, func(a *Account) error {
		a.TOTP, a.Recovery, a.Failures = nil, nil, 0
		return nil
	}); err != nil {
		return err
	}
	s.m.twofa.WithLabelValues("disabled").Inc()
	s.record(r, "2fa_disabled", p.account.Username, p.account.Username, "success", `{"totp":true}`, `{"totp":false}`)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// regenerate replaces the whole set of recovery codes, atomically, after a valid code.
func (s *Server) regenerate(w http.ResponseWriter, r *http.Request, p *principal) error {
	if p.apiKey != nil {
		return errForbidden
	}
	if err := s.requireCode(r, p, "recovery_regenerate_failure"); err != nil {
		return err
	}
	plain, hashed := s.newRecoveryCodes()
	if _, err := s.st.updateAccount(r.Context(), p.account.Username, func(a *Account) error {
		a.Recovery, a.Failures = hashed, 0
		return nil
	}); err != nil {
		return err
	}
	s.m.twofa.WithLabelValues("recovery_regenerated").Inc()
	s.record(r, "recovery_codes_regenerated", p.account.Username, p.account.Username, "success", "", "")
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"recovery_codes": plain})
	return nil
}

// requireCode checks the TOTP code in the request body (throttled, one use, failures counted on the account).
func (s *Server) requireCode(r *http.Request, p *principal, failure string) error {
	if err := s.throttle(r); err != nil {
		return err
	}
	var req codeRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := s.checkCode(r.Context(), p.account.Username, req.Code); err != nil {
		s.fail(r.Context(), r, p.account.Username, failure)
		return errInvalid
	}
	return nil
}
