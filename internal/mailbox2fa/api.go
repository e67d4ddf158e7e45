package mailbox2fa

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/authapi"
	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/httpapi"
	"github.com/vigil-ids/vigil/internal/password"
	"github.com/vigil-ids/vigil/internal/totp"
)

// maxBody is the largest request body read.
const maxBody = 4 << 10

// decode reads exactly one JSON object of known fields of at most maxBody bytes.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, err2 := dec.Token(); err2 != io.EOF {
			err = errors.New("trailing data")
		}
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return httpapi.Errorf(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body is larger than %d bytes", maxBody))
	case err != nil:
		return httpapi.Errorf(http.StatusBadRequest, "bad_request", "the body must be one JSON object with the documented fields")
	}
	return nil
}

// caller authenticates the request and parses the {user} path value.
func (s *Service) caller(r *http.Request) (*authapi.Caller, string, string, error) {
	c, err := s.d.Gate.Authorize(r, authapi.ScopeMailbox2FA)
	if err != nil {
		return nil, "", "", err
	}
	user, domain, ok := parseUser(r.PathValue("user"))
	if !ok {
		return nil, "", "", errBadUser
	}
	return c, user, domain, nil
}

// Sentinels of stepUp that are not incident ids: a pending block_login decision, or incidents that could not be read.
const (
	suspectDecision = "decision"
	suspectUnknown  = "unknown"
)

// stepUp reports the user's open incident (suspectDecision for a pending block_login decision, suspectUnknown when
// the incidents cannot be read: step-up then applies), "" for none.
func (s *Service) stepUp(ctx context.Context, user string) string {
	if s.d.Suspicion != nil {
		id, err := s.d.Suspicion.OpenIncident(ctx, user)
		if err != nil {
			s.logger.Warn("mailbox 2fa: incidents unavailable; asking for the second factor", "err", err, "user", user)
			return suspectUnknown // fail towards asking
		}
		if id != "" {
			return id
		}
	}
	if s.d.Decisions != nil {
		if pending, err := s.d.Decisions.BlockLoginPending(ctx, user); err != nil || pending {
			return suspectDecision
		}
	}
	return ""
}

// What a webmail does after the password check (the status's "next").
const (
	nextOpen   = "open"   // open the mailbox
	nextVerify = "verify" // ask for one of the methods; open only on a 200 from verify
	nextEnroll = "enroll" // the domain requires 2FA and the user has none: start the enrollment, do not open
	nextDeny   = "deny"   // step-up of a user without a second factor on a deny domain: do not open
)

// loginPlan is the answer to "does this user need a second factor now?".
type loginPlan struct {
	inc         string   // the open incident (or a stepUp sentinel), "" for none
	next        string   // nextOpen, nextVerify, nextEnroll or nextDeny
	methods     []string // the methods verify accepts now
	emailStepUp bool     // the user has no second factor; step-up e-mails a one-time code
	allowed     bool     // step-up applies but the domain's policy for unenrolled users lets the login through
}

// plan decides a login of user (state st) on domain: enrolled users verify when the policy requires it or step-up
// applies; users without a second factor follow the domain's step-up policy for unenrolled users (email, deny,
// allow) while step-up applies, unless 2FA is off for the domain; on a required domain they are denied then, since
// nobody enrolls during an incident.
func (s *Service) plan(ctx context.Context, st *State, user, domain string) loginPlan {
	p := loginPlan{inc: s.stepUp(ctx, user), methods: st.methods(), next: nextOpen}
	policy := s.opts.policy(domain)
	unenrolled := s.opts.unenrolled(domain)
	stepUp := p.inc != "" && policy != PolicyOff
	switch {
	case st.enrolled():
		if policy == PolicyRequired || p.inc != "" {
			p.next = nextVerify
		}
	case stepUp && (unenrolled == StepUpDeny || policy == PolicyRequired):
		p.next = nextDeny // a required domain's user cannot enroll while the incident is open (errIncidentOpen)
	case policy == PolicyRequired:
		p.next = nextEnroll
	case stepUp && unenrolled == StepUpEmail:
		p.next, p.methods, p.emailStepUp = nextVerify, []string{"email"}, true
	case stepUp:
		p.allowed = true
	}
	return p
}

// methods lists the second factors the user has.
func (st *State) methods() []string {
	methods := []string{}
	if st.TOTP != nil {
		methods = append(methods, "totp")
	}
	if st.Email && st.Recovery != "" {
		methods = append(methods, "email")
	}
	if st.enrolled() {
		methods = append(methods, "backup_code")
	}
	return methods
}

// stepUpAddress is where an e-mailed step-up code goes for a user without a second factor: the recovery address
// when one is on file, else the mailbox itself.
func (st *State) stepUpAddress() string {
	if st.Recovery != "" {
		return st.Recovery
	}
	return st.User
}

// errIncidentOpen refuses an enrollment while step-up applies: the link would go to a mailbox whoever caused the
// incident may be reading, and the second factor they bound would then pass the step-up.
var errIncidentOpen = httpapi.Errorf(http.StatusConflict, "incident_open",
	"this user has an open security incident; resolve it in the console before enrolling a second factor")

// errStepUpDenied answers a login the step-up policy for unenrolled users refuses.
var errStepUpDenied = httpapi.Errorf(http.StatusForbidden, "step_up_denied",
	"this user has an open security incident and no second factor; the login is refused until an administrator resolves it")

// outcome records a step-up result: in the audit log (action mailbox_2fa_step_up, target the incident) and, for a
// real incident, on the incident itself (ClickHouse mailbox_step_ups, the console's incident page). A failed
// ClickHouse write is logged and counted; it does not change the answer.
func (s *Service) outcome(r *http.Request, c *authapi.Caller, p loginPlan, user, result, method string, ip netip.Addr) {
	s.m.stepUps.WithLabelValues(result).Inc()
	s.d.Gate.Record(r, "mailbox_2fa_step_up", c.Actor, p.inc, result, "", string(mustJSON(map[string]string{"user": user, "method": method, "client_ip": ip.String()})))
	if s.d.Outcomes == nil || p.inc == suspectDecision || p.inc == suspectUnknown {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	row := chstore.StepUpRow{IncidentID: p.inc, AttemptID: randomID(), Time: s.opts.Now().UTC().Truncate(time.Second), User: user,
		Result: result, Method: method, ClientIP: ip.String(), Actor: c.Actor}
	if err := s.d.Outcomes.WriteStepUps(ctx, []chstore.StepUpRow{row}); err != nil {
		s.m.recordErr.Inc()
		s.logger.Warn("mailbox 2fa: step-up outcome not recorded on the incident (the audit log has it)", "err", err, "incident", p.inc, "result", result)
	}
}

// clientIP reads the optional client_ip query parameter of the status (the user's address as the webmail saw
// it), else the caller's address.
func clientIPParam(r *http.Request) (netip.Addr, error) {
	q := r.URL.Query()
	for k := range q {
		if k != "client_ip" {
			return netip.Addr{}, httpapi.Errorf(http.StatusBadRequest, "bad_parameter", "unknown query parameter; only client_ip")
		}
	}
	v := q["client_ip"]
	if len(v) == 0 {
		return authapi.ClientIP(r), nil
	}
	ip, err := netip.ParseAddr(v[0])
	if len(v) > 1 || len(v[0]) > 64 || err != nil {
		return netip.Addr{}, httpapi.Errorf(http.StatusBadRequest, "bad_client_ip", "client_ip: one IPv4 or IPv6 address")
	}
	return ip.Unmap(), nil
}

func (s *Service) status(w http.ResponseWriter, r *http.Request) error {
	c, user, domain, err := s.caller(r)
	if err != nil {
		return err
	}
	ip, err := clientIPParam(r)
	if err != nil {
		return err
	}
	st, _, err := s.st.state(r.Context(), user)
	if err != nil {
		return storeErr(err)
	}
	policy := s.opts.policy(domain)
	p := s.plan(r.Context(), st, user, domain)
	switch {
	case p.next == nextDeny:
		s.outcome(r, c, p, user, "denied", "", ip)
	case p.allowed:
		s.outcome(r, c, p, user, "allowed", "", ip)
	}
	out := map[string]any{"user": user, "policy": policy, "enrolled": st.enrolled(),
		"required": policy == PolicyRequired || p.next == nextVerify, "methods": p.methods,
		"step_up_required": p.inc != "" && (p.next == nextVerify || p.next == nextDeny), "locked": s.opts.Now().Before(st.LockedUntil),
		"next": p.next}
	if p.emailStepUp {
		out["email_to"] = mask(st.stepUpAddress())
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

// enroll starts an enrollment: the user receives a single-use link to the QR page.
func (s *Service) enroll(w http.ResponseWriter, r *http.Request) error {
	c, user, domain, err := s.caller(r)
	if err != nil {
		return err
	}
	var req struct {
		RecoveryAddress string `json:"recovery_address"`
		Email           bool   `json:"email_codes"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if s.opts.policy(domain) == PolicyOff {
		return httpapi.Errorf(http.StatusForbidden, "2fa_off", "two-factor authentication is off for this domain")
	}
	if req.RecoveryAddress != "" && !validAddress(req.RecoveryAddress) {
		return httpapi.Errorf(http.StatusBadRequest, "bad_recovery_address", "recovery_address: a mailbox address")
	}
	if req.Email && req.RecoveryAddress == "" {
		return httpapi.Errorf(http.StatusBadRequest, "bad_recovery_address", "email_codes needs a recovery_address")
	}
	ctx := r.Context()
	if inc := s.stepUp(ctx, user); inc != "" {
		s.d.Gate.Record(r, "mailbox_2fa_enroll_refused", c.Actor, user, "incident_open", "", "")
		return errIncidentOpen
	}
	if _, err := s.st.update(ctx, user, func(st *State) error {
		if st.enrolled() {
			return httpapi.Errorf(http.StatusConflict, "already_enrolled", "this user has a second factor; disable or reset it first")
		}
		if req.RecoveryAddress != "" {
			st.Recovery = strings.ToLower(req.RecoveryAddress)
		}
		st.Email, st.EmailSecret = false, nil // a step-up's e-mail secret does not carry into the enrollment
		if req.Email {
			st.EmailSecret = s.box.Seal(totp.NewSecret(), user)
		}
		return nil
	}); err != nil {
		return storeErr(err)
	}
	tok := randomToken()
	expires := s.opts.Now().Add(s.opts.LinkTTL)
	if err := s.st.putLink(ctx, tok, link{Kind: "link", User: user, Expires: expires}); err != nil {
		return storeErr(err)
	}
	url := strings.TrimRight(s.opts.PublicURL, "/") + "/mailbox-2fa/enroll/" + tok
	body := fmt.Sprintf("Hello,\r\n\r\nset up two-step verification for %s by opening this link:\r\n\r\n%s\r\n\r\n"+
		"The link works once and expires at %s. If you did not ask for this, ignore this message.\r\n",
		user, url, expires.UTC().Format(time.RFC1123))
	if err := s.d.Mailer.Send(ctx, user, "Set up two-step verification", body); err != nil {
		return &httpapi.Error{Status: http.StatusBadGateway, Code: "mail_failed", Message: "the enrollment mail could not be sent", Err: err}
	}
	s.m.events.WithLabelValues("enroll_started").Inc()
	s.d.Gate.Record(r, "mailbox_2fa_enroll_started", c.Actor, user, "success", "", "")
	httpapi.WriteJSON(w, http.StatusAccepted, map[string]any{"user": user, "link_expires": expires.UTC().Format(time.RFC3339)})
	return nil
}

type verifyRequest struct {
	Code       string `json:"code"`
	BackupCode string `json:"backup_code"`
	EmailCode  string `json:"email_code"`
	ClientIP   string `json:"client_ip"` // the mailbox user's address as the webmail saw it
}

// parseVerify checks a verify body: exactly one code and an optional client address.
func parseVerify(req *verifyRequest) (method, code string, ip netip.Addr, err error) {
	n := 0
	for m, c := range map[string]string{"totp": req.Code, "backup_code": req.BackupCode, "email": req.EmailCode} {
		if c != "" {
			n++
			method, code = m, c
		}
	}
	if n != 1 {
		return "", "", ip, httpapi.Errorf(http.StatusBadRequest, "bad_request", "exactly one of code, backup_code and email_code")
	}
	if len(code) > 64 {
		return "", "", ip, errInvalid
	}
	if req.ClientIP != "" {
		if ip, err = netip.ParseAddr(req.ClientIP); err != nil {
			return "", "", ip, httpapi.Errorf(http.StatusBadRequest, "bad_client_ip", "client_ip: an IPv4 or IPv6 address")
		}
		ip = ip.Unmap()
	}
	return method, code, ip, nil
}

func (s *Service) verify(w http.ResponseWriter, r *http.Request) error {
	c, user, domain, err := s.caller(r)
	if err != nil {
		return err
	}
	var req verifyRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	method, code, ip, err := parseVerify(&req)
	if err != nil {
		return err
	}
	if !ip.IsValid() {
		ip = authapi.ClientIP(r)
	}
	ctx := r.Context()
	if err := s.throttle(ctx, user); err != nil {
		return err
	}
	st, _, err := s.st.state(ctx, user)
	if err != nil {
		return storeErr(err)
	}
	p := s.plan(ctx, st, user, domain)
	if p.next == nextDeny {
		s.outcome(r, c, p, user, "denied", method, ip)
		return errStepUpDenied
	}
	err = s.check(ctx, user, method, code, p.emailStepUp)
	now := s.opts.Now()
	result := "passed"
	if err != nil {
		result = "failed"
		if serr := storeErr(err); serr != nil && !errors.Is(err, errInvalid) && !errors.Is(err, errNotEnrolled) {
			return serr
		}
		s.fail(r, c, user, p.emailStepUp)
	} else {
		s.st.update(ctx, user, func(st *State) error { st.Failures, st.LockedUntil = 0, time.Time{}; return nil })
	}
	s.m.verify.WithLabelValues(method, result).Inc()
	if s.d.Events != nil {
		s.d.Events.MailboxSecondFactor(user, ip, err == nil, now)
	}
	if p.inc != "" && !errors.Is(err, errNotEnrolled) {
		s.outcome(r, c, p, user, result, method, ip)
	}
	if err != nil {
		if errors.Is(err, errNotEnrolled) {
			return errNotEnrolled
		}
		return errInvalid
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"result": result, "method": method, "step_up": p.inc != ""})
	return nil
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

// fail counts a failure on the user, locking with the auth API's backoff, and audits it. A user without a second
// factor counts only during an e-mailed step-up (stepUp).
func (s *Service) fail(r *http.Request, c *authapi.Caller, user string, stepUp bool) {
	st, err := s.st.update(r.Context(), user, func(st *State) error {
		if !st.enrolled() && !stepUp {
			return errNotEnrolled
		}
		st.Failures++
		if d := s.d.Gate.Lockout(st.Failures); d > 0 {
			st.LockedUntil = s.opts.Now().Add(d)
		}
		return nil
	})
	s.d.Gate.Record(r, "mailbox_2fa_verify_failure", c.Actor, user, "failure", "", "")
	if err == nil && s.d.Gate.Lockout(st.Failures) > 0 {
		s.d.Gate.Record(r, "mailbox_2fa_locked", c.Actor, user, "locked", "", st.LockedUntil.UTC().Format(time.RFC3339))
	}
}

// check verifies one code with compare-and-set: a TOTP step, a backup code or an e-mailed code works once. A user
// without a second factor has only the e-mailed code of a step-up (stepUp).
func (s *Service) check(ctx context.Context, user, method, code string, stepUp bool) error {
	_, err := s.st.update(ctx, user, func(st *State) error {
		if !st.enrolled() && !(stepUp && method == "email") {
			return errNotEnrolled
		}
		now := s.opts.Now()
		if now.Before(st.LockedUntil) {
			return errInvalid
		}
		switch method {
		case "totp":
			if st.TOTP == nil {
				return errInvalid
			}
			secret, err := s.box.Open(st.TOTP.SecretEnc, user)
			if err != nil {
				return err
			}
			step, err := totp.Verify(secret, st.TOTP.Params, code, now, st.TOTP.LastStep)
			if err != nil {
				return errInvalid
			}
			st.TOTP.LastStep = step
		case "backup_code":
			c := normaliseBackup(code)
			if len(c) != 19 {
				return errInvalid
			}
			match := -1
			for i, h := range st.Backup {
				if h != "" && password.Verify(c, h) == nil && match < 0 {
					match = i
				}
			}
			if match < 0 {
				return errInvalid
			}
			st.Backup[match] = ""
		case "email":
			return s.useEmailCode(st, code, now)
		}
		return nil
	})
	return err
}

// useEmailCode consumes the outstanding e-mailed code when code matches it (constant-time).
func (s *Service) useEmailCode(st *State, code string, now time.Time) error {
	if st.EmailSecret == nil || st.CodeExpires.IsZero() || !now.Before(st.CodeExpires) || !wellFormedCode(code) {
		return errInvalid
	}
	secret, err := s.box.Open(st.EmailSecret, st.User)
	if err != nil {
		return err
	}
	want, err := totp.Code(secret, totp.Default, st.Counter)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(code)) != 1 {
		return errInvalid
	}
	st.CodeExpires = time.Time{} // single use
	return nil
}

// wellFormedCode is the strict code input of the admin side: exactly six ASCII digits.
func wellFormedCode(c string) bool {
	if len(c) != 6 {
		return false
	}
	for i := 0; i < len(c); i++ {
		if c[i] < '0' || c[i] > '9' {
			return false
		}
	}
	return true
}

// emailCode sends a one-time code (HOTP, RFC 4226) to the user's recovery address, or during an e-mailed step-up
// of a user without a second factor to the address the status named (email_to).
func (s *Service) emailCode(w http.ResponseWriter, r *http.Request) error {
	c, user, domain, err := s.caller(r)
	if err != nil {
		return err
	}
	if r.ContentLength != 0 {
		var req struct{}
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	st, _, err := s.st.state(r.Context(), user)
	if err != nil {
		return storeErr(err)
	}
	p := s.plan(r.Context(), st, user, domain)
	if p.next == nextDeny {
		return errStepUpDenied
	}
	if err := s.sendCode(r.Context(), user, p.emailStepUp); err != nil {
		return err
	}
	s.m.events.WithLabelValues("email_code_sent").Inc()
	s.d.Gate.Record(r, "mailbox_2fa_email_code_sent", c.Actor, user, "success", "", "")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// sendCode creates the user's next e-mailed code (rate-limited) and mails it to the recovery address, or for the
// step-up of a user without a second factor (stepUp) to st.stepUpAddress with a new e-mail secret. The code is
// never logged.
func (s *Service) sendCode(ctx context.Context, user string, stepUp bool) error {
	now := s.opts.Now()
	var code, to string
	_, err := s.st.update(ctx, user, func(st *State) error {
		switch {
		case stepUp && !st.enrolled():
			if st.EmailSecret == nil {
				st.EmailSecret = s.box.Seal(totp.NewSecret(), user)
			}
		case st.EmailSecret == nil || st.Recovery == "" || (!st.Email && st.Pending == nil):
			return httpapi.Errorf(http.StatusConflict, "no_email_method", "this user has no e-mailed codes")
		}
		if now.Before(st.LockedUntil) {
			return errInvalid
		}
		if !st.CodeSent.IsZero() && now.Sub(st.CodeSent) < s.opts.CodeInterval {
			return &httpapi.Error{Status: http.StatusTooManyRequests, Code: "too_many_requests", Message: "a code was sent a moment ago",
				RetryAfter: max(s.opts.CodeInterval-now.Sub(st.CodeSent), time.Second)}
		}
		secret, err := s.box.Open(st.EmailSecret, user)
		if err != nil {
			return err
		}
		st.Counter++
		if code, err = totp.Code(secret, totp.Default, st.Counter); err != nil {
			return err
		}
		st.CodeSent, st.CodeExpires, to = now, now.Add(s.opts.CodeTTL), st.Recovery
		if stepUp && !st.enrolled() {
			to = st.stepUpAddress()
		}
		return nil
	})
	if err != nil {
		return storeErr(err)
	}
	body := fmt.Sprintf("Your verification code for %s is %s\r\n\r\nIt works once and expires in %s. Nobody from us will ever ask you for it.\r\n",
		user, code, s.opts.CodeTTL)
	if err := s.d.Mailer.Send(ctx, to, "Your verification code", body); err != nil {
		return &httpapi.Error{Status: http.StatusBadGateway, Code: "mail_failed", Message: "the code could not be sent", Err: err}
	}
	return nil
}

// disable removes the user's second factor: with a current code (webmail, on the user's behalf) or as an audited
// admin reset (an admin session, no code).
func (s *Service) disable(w http.ResponseWriter, r *http.Request) error {
	c, user, domain, err := s.caller(r)
	if err != nil {
		return err
	}
	var req verifyRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	action := "mailbox_2fa_reset"
	if !c.Admin || req.Code != "" || req.BackupCode != "" || req.EmailCode != "" {
		action = "mailbox_2fa_disabled"
		if s.opts.policy(domain) == PolicyRequired && !c.Admin {
			return httpapi.Errorf(http.StatusForbidden, "2fa_required", "this domain requires two-factor authentication")
		}
		method, code, _, err := parseVerify(&req)
		if err != nil {
			return err
		}
		if err := s.throttle(r.Context(), user); err != nil {
			return err
		}
		if err := s.check(r.Context(), user, method, code, false); err != nil {
			s.fail(r, c, user, false)
			return errInvalid
		}
	}
	if _, err := s.st.update(r.Context(), user, func(st *State) error {
		*st = State{User: user}
		return nil
	}); err != nil {
		return storeErr(err)
	}
	s.m.events.WithLabelValues(strings.TrimPrefix(action, "mailbox_2fa_")).Inc()
	s.d.Gate.Record(r, action, c.Actor, user, "success", `{"enrolled":true}`, `{"enrolled":false}`)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
