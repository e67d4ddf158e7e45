package mailbox2fa

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/authapi"
	"github.com/vigil-ids/vigil/internal/password"
	"github.com/vigil-ids/vigil/internal/totp"
)

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Two-step verification</title>
<meta name="referrer" content="no-referrer"></head><body>
<h1>Two-step verification for {{.User}}</h1>
{{if .Error}}<p id="error">{{.Error}}</p>{{end}}
{{if .QR}}<p>Scan this code with your authenticator app, or type the secret in by hand.</p>
<img id="qr" alt="QR code" src="data:image/png;base64,{{.QR}}">
<p>Secret: <code id="secret">{{.Secret}}</code> (issuer {{.Issuer}}). This page expires at <span id="expires">{{.Expires}}</span>.</p>
<form method="post" action="{{.Action}}"><label>Six-digit code <input name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="6"></label>
<button>Test and activate</button></form>
{{if .Recovery}}<p>No authenticator app? We can send codes to {{.Recovery}} instead.</p>
<form method="post" action="{{.Action}}/email-code"><button>Send me a code by e-mail</button></form>{{end}}{{end}}
{{if .EmailForm}}<p>We sent a code to {{.Recovery}}. Enter it to turn on two-step verification with e-mailed codes.</p>
<form method="post" action="{{.Action}}"><label>Code from the e-mail <input name="email_code" inputmode="numeric" maxlength="6"></label>
<button>Activate</button></form>{{end}}
{{if .Backup}}<p>Two-step verification is active. Keep these backup codes somewhere safe; each works once and they are not shown again:</p>
<ul id="backup">{{range .Backup}}<li>{{.}}</li>{{end}}</ul>{{end}}
</body></html>
`))

type pageData struct {
	User, Error, QR, Secret, Issuer, Expires, Action string
	Recovery                                         string // masked; set when e-mailed codes are offered
	EmailForm                                        bool
	Backup                                           []string
}

// mask shows an address as a***@domain.
func mask(addr string) string {
	local, domain, _ := strings.Cut(addr, "@")
	if len(local) > 1 {
		local = local[:1]
	}
	return local + "***@" + domain
}

// refuseDuringIncident answers an enrollment page while the user has an open incident: the link went to the
// mailbox, which whoever caused the incident may be reading, so a second factor is not bound until it is resolved.
func (s *Service) refuseDuringIncident(w http.ResponseWriter, r *http.Request, user string) error {
	s.d.Gate.Record(r, "mailbox_2fa_enroll_refused", user, user, "incident_open", "", "")
	return s.render(w, http.StatusForbidden, pageData{User: user, Error: "Two-step verification cannot be set up right now: " +
		"there is an open security alert on this mailbox. Contact your administrator; the link works again once the alert is resolved."})
}

func (s *Service) render(w http.ResponseWriter, status int, d pageData) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src data:; form-action 'self'")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	return page.Execute(w, d)
}

func validToken(t string) bool {
	if len(t) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(t)
	return err == nil
}

// openLink consumes an e-mailed link and shows the QR page with a new pending secret.
func (s *Service) openLink(w http.ResponseWriter, r *http.Request) error {
	if err := s.d.Gate.Throttle(r); err != nil {
		return err
	}
	tok := r.PathValue("token")
	gone := func() error {
		return s.render(w, http.StatusGone, pageData{Error: "This link is not valid: it was used already or it expired. Ask for a new one."})
	}
	if !validToken(tok) {
		return gone()
	}
	ctx := r.Context()
	if l, _, err := s.st.getLink(ctx, tok); err == nil && l.Kind == "link" && s.stepUp(ctx, l.User) != "" {
		return s.refuseDuringIncident(w, r, l.User) // the link stays valid for after the incident
	}
	l, err := s.st.takeLink(ctx, tok)
	now := s.opts.Now()
	if err != nil || l.Kind != "link" || !now.Before(l.Expires) {
		return gone()
	}
	_, domain, _ := parseUser(l.User)
	secret := totp.NewSecret()
	issuer := s.opts.issuer(domain)
	uri, err := totp.URI(issuer, l.User, secret, totp.Default)
	if err != nil {
		return err
	}
	png, err := totp.QRPNG(uri, 256)
	if err != nil {
		return err
	}
	expires := now.Add(s.opts.QRTTL)
	st, err := s.st.update(ctx, l.User, func(st *State) error {
		st.Pending = &Secret{SecretEnc: s.box.Seal(secret, l.User), Params: totp.Default, LastStep: -1, Expires: expires}
		return nil
	})
	if err != nil {
		return storeErr(err)
	}
	recovery := ""
	if st.EmailSecret != nil && st.Recovery != "" {
		recovery = mask(st.Recovery)
	}
	pageTok := randomToken()
	if err := s.st.putLink(ctx, pageTok, link{Kind: "page", User: l.User, Expires: expires}); err != nil {
		return storeErr(err)
	}
	s.d.Gate.Record(r, "mailbox_2fa_link_opened", l.User, l.User, "success", "", "")
	return s.render(w, http.StatusOK, pageData{User: l.User, QR: base64.StdEncoding.EncodeToString(png), Secret: totp.SecretText(secret),
		Issuer: issuer, Expires: expires.UTC().Format(time.RFC3339), Action: "/mailbox-2fa/enroll/" + pageTok, Recovery: recovery})
}

// confirm activates the pending secret with a valid code (or, for e-mailed codes, the code sent to the recovery
// address) and shows the backup codes once.
func (s *Service) confirm(w http.ResponseWriter, r *http.Request) error {
	if err := s.d.Gate.Throttle(r); err != nil {
		return err
	}
	tok := r.PathValue("token")
	if !validToken(tok) {
		return s.render(w, http.StatusGone, pageData{Error: "This page expired. Ask for a new link."})
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1024)
	code := strings.TrimSpace(r.PostFormValue("code"))
	emailCode := strings.TrimSpace(r.PostFormValue("email_code"))
	ctx := r.Context()
	l, _, err := s.st.getLink(ctx, tok)
	now := s.opts.Now()
	if err != nil || l.Kind != "page" || !now.Before(l.Expires) {
		return s.render(w, http.StatusGone, pageData{Error: "This page expired. Ask for a new link."})
	}
	if err := s.throttle(ctx, l.User); err != nil { // the code attempts of the page count with the webmail's
		return err
	}
	if s.stepUp(ctx, l.User) != "" {
		return s.refuseDuringIncident(w, r, l.User)
	}
	var plain, hashed []string
	st, err := s.st.update(ctx, l.User, func(st *State) error {
		if st.Pending == nil || !now.Before(st.Pending.Expires) || now.Before(st.LockedUntil) {
			return errInvalid
		}
		if emailCode != "" { // e-mailed codes only, for users without an authenticator app
			if err := s.useEmailCode(st, emailCode, now); err != nil {
				return err
			}
			if hashed == nil {
				plain, hashed = s.newBackupCodes()
			}
			st.Pending, st.Backup, st.Failures, st.Enrolled, st.Email = nil, hashed, 0, now.UTC(), true
			return nil
		}
		secret, err := s.box.Open(st.Pending.SecretEnc, st.User)
		if err != nil {
			return err
		}
		step, err := totp.Verify(secret, st.Pending.Params, code, now, -1)
		if err != nil {
			return errInvalid
		}
		if hashed == nil {
			plain, hashed = s.newBackupCodes()
		}
		st.TOTP = &Secret{SecretEnc: st.Pending.SecretEnc, Params: st.Pending.Params, LastStep: step}
		st.Pending, st.Backup, st.Failures, st.Enrolled = nil, hashed, 0, now.UTC()
		st.Email = st.EmailSecret != nil && st.Recovery != ""
		return nil
	})
	if err != nil {
		s.fail(r, &authapi.Caller{Actor: l.User}, l.User, false)
		s.d.Gate.Record(r, "mailbox_2fa_confirm_failure", l.User, l.User, "failure", "", "")
		return s.render(w, http.StatusUnauthorized, pageData{User: l.User, Error: "That code is not valid. Open the link again for a new code."})
	}
	s.st.links.Delete(ctx, tokenKey(tok))
	s.m.events.WithLabelValues("enrolled").Inc()
	s.d.Gate.Record(r, "mailbox_2fa_enrolled", st.User, st.User, "success", `{"enrolled":false}`, `{"enrolled":true}`)
	return s.render(w, http.StatusOK, pageData{User: st.User, Backup: plain})
}

// pageEmailCode sends an e-mailed code from the QR page and shows the form for it.
func (s *Service) pageEmailCode(w http.ResponseWriter, r *http.Request) error {
	if err := s.d.Gate.Throttle(r); err != nil {
		return err
	}
	tok := r.PathValue("token")
	expired := pageData{Error: "This page expired. Ask for a new link."}
	if !validToken(tok) {
		return s.render(w, http.StatusGone, expired)
	}
	ctx := r.Context()
	l, _, err := s.st.getLink(ctx, tok)
	if err != nil || l.Kind != "page" || !s.opts.Now().Before(l.Expires) {
		return s.render(w, http.StatusGone, expired)
	}
	st, _, err := s.st.state(ctx, l.User)
	if err != nil {
		return storeErr(err)
	}
	if err := s.sendCode(ctx, l.User, false); err != nil {
		return err
	}
	s.m.events.WithLabelValues("email_code_sent").Inc()
	s.d.Gate.Record(r, "mailbox_2fa_email_code_sent", l.User, l.User, "success", "", "")
	return s.render(w, http.StatusOK, pageData{User: l.User, EmailForm: true, Recovery: mask(st.Recovery), Action: "/mailbox-2fa/enroll/" + tok})
}

// Backup codes: 10 codes of 80 bits, shown once, stored as argon2id hashes (as the admin side's recovery codes).
var backupAlphabet = base32.NewEncoding("abcdefghijkmnpqrstuvwxyz23456789").WithPadding(base32.NoPadding)

func (s *Service) newBackupCodes() (plain, hashed []string) {
	for range 10 {
		b := make([]byte, 10)
		rand.Read(b)
		c := backupAlphabet.EncodeToString(b)
		c = c[:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:]
		plain = append(plain, c)
		hashed = append(hashed, password.Hash(c, s.opts.Password))
	}
	return plain, hashed
}

func normaliseBackup(c string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(c), " ", ""))
}
