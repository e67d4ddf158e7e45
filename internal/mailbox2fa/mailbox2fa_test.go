package mailbox2fa

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMailbox2FA runs every case against one real stack (NATS, ClickHouse, Postfix delivering into Dovecot).
func TestMailbox2FA(t *testing.T) {
	h := newHarness(t)
	const alice = "alice@example.org"
	var a enrolled

	if !t.Run("enrollment mail, single-use link, QR page, confirm", func(t *testing.T) {
		h.t = t
		a = h.enroll(alice, `{"recovery_address":"alice@recovery.example","email_codes":true}`, 1)
		link := linkRE.FindString(h.mailbox(alice, 1))
		if status, _ := h.page("GET", link, nil); status != 410 {
			t.Errorf("second GET of the link = %d; want 410 (single use)", status)
		}
		s := h.status(alice)
		if !s.Enrolled || s.Required || s.Policy != "optional" || !slices.Equal(s.Methods, []string{"totp", "email", "backup_code"}) {
			t.Errorf("status = %+v; want enrolled, optional, methods totp, email, backup_code", s)
		}
		if len(h.rec.find("mailbox_2fa_enrolled", alice)) != 1 || len(h.rec.find("mailbox_2fa_enroll_started", alice)) != 1 {
			t.Errorf("audit lacks mailbox_2fa_enroll_started / mailbox_2fa_enrolled for %s", alice)
		}
		h.do("POST", "/v1/mailbox-2fa/"+alice+"/enroll", h.key, `{}`, 409, nil)
	}) {
		return // every later case needs the enrolled user
	}

	t.Run("TOTP verified once, replay refused", func(t *testing.T) {
		h.t = t
		h.clock.Advance(30 * time.Second) // the confirm used the current step
		code := h.code(a.secret, 0)
		if st, v := h.verify(alice, fmt.Sprintf(`{"code":%q,"client_ip":"198.51.100.7"}`, code)); st != 200 || v.Result != "passed" {
			t.Fatalf("verify = %d %+v; want 200 passed", st, v)
		}
		if st, _ := h.verify(alice, fmt.Sprintf(`{"code":%q}`, code)); st != 401 {
			t.Errorf("replayed code = %d; want 401", st)
		}
		h.rec.mu.Lock()
		events := slices.Clone(h.rec.events)
		h.rec.mu.Unlock()
		if !slices.Contains(events, alice+" 198.51.100.7 ok") || !slices.Contains(events, alice+" 127.0.0.1 fail") {
			t.Errorf("second-factor events = %v; want a success from 198.51.100.7 and a failure", events)
		}
	})

	t.Run("skew: one step either side, not two", func(t *testing.T) {
		h.t = t
		h.clock.Advance(5 * time.Minute)
		if st, _ := h.verify(alice, fmt.Sprintf(`{"code":%q}`, h.code(a.secret, -2))); st != 401 {
			t.Errorf("code two steps old = %d; want 401", st)
		}
		if st, _ := h.verify(alice, fmt.Sprintf(`{"code":%q}`, h.code(a.secret, 1))); st != 200 {
			t.Errorf("code one step ahead = %d; want 200", st)
		}
	})

	t.Run("strict code input", func(t *testing.T) {
		h.t = t
		h.clock.Advance(5 * time.Minute)
		good := h.code(a.secret, 0)
		for _, c := range []string{good[:5], good + "0", " " + good, good + "\n", "１２３４５６", "12345a", "+12345"} {
			if st, _ := h.verify(alice, fmt.Sprintf(`{"code":%q}`, c)); st != 401 {
				t.Errorf("verify(%q) = %d; want 401", c, st)
			}
		}
		for _, body := range []string{`{}`, `{"code":"123456","backup_code":"x"}`, `{"code":"123456","extra":1}`, `{"code":"123456"} {}`, `{"code":"1","client_ip":"nope"}`} {
			if st, _ := h.verify(alice, body); st != 400 {
				t.Errorf("verify body %s = %d; want 400", body, st)
			}
		}
		h.do("GET", "/v1/mailbox-2fa/not-an-address", h.key, "", 400, nil)
		if s := h.status("alice%40example.org"); !s.Enrolled {
			t.Error("status of alice%40example.org (the @ escaped, as PHP's rawurlencode sends it) is not alice's")
		}
		h.do("GET", "/v1/mailbox-2fa/"+alice, "", "", 401, nil)
	})

	t.Run("backup code works once", func(t *testing.T) {
		h.t = t
		h.clock.Advance(time.Minute)
		body := fmt.Sprintf(`{"backup_code":%q}`, a.backup[3])
		if st, _ := h.verify(alice, body); st != 200 {
			t.Fatalf("backup code = %d; want 200", st)
		}
		if st, _ := h.verify(alice, body); st != 401 {
			t.Errorf("reused backup code = %d; want 401", st)
		}
	})

	t.Run("e-mailed code through Postfix: once, expires, rate-limited", func(t *testing.T) {
		h.t = t
		h.clock.Advance(time.Minute)
		h.do("POST", "/v1/mailbox-2fa/"+alice+"/email-code", h.key, "", 202, nil)
		m := codeRE.FindStringSubmatch(h.mailbox("alice@recovery.example", 1))
		if m == nil {
			t.Fatal("no code in the mail to the recovery address")
		}
		h.do("POST", "/v1/mailbox-2fa/"+alice+"/email-code", h.key, "", 429, nil)
		body := fmt.Sprintf(`{"email_code":%q}`, m[1])
		if st, _ := h.verify(alice, body); st != 200 {
			t.Fatalf("e-mailed code = %d; want 200", st)
		}
		if st, _ := h.verify(alice, body); st != 401 {
			t.Errorf("reused e-mailed code = %d; want 401", st)
		}
		h.clock.Advance(2 * time.Minute)
		h.do("POST", "/v1/mailbox-2fa/"+alice+"/email-code", h.key, "", 202, nil)
		m = codeRE.FindStringSubmatch(h.mailbox("alice@recovery.example", 2))
		h.clock.Advance(11 * time.Minute)
		if st, _ := h.verify(alice, fmt.Sprintf(`{"email_code":%q}`, m[1])); st != 401 {
			t.Errorf("expired e-mailed code = %d; want 401", st)
		}
	})

	t.Run("e-mailed codes only, for a user without an authenticator app", func(t *testing.T) {
		h.t = t
		const frank, rec = "frank@example.org", "frank@recovery.example"
		h.do("POST", "/v1/mailbox-2fa/"+frank+"/enroll", h.key, `{"recovery_address":"frank@recovery.example","email_codes":true}`, 202, nil)
		_, qr := h.page("GET", linkRE.FindString(h.mailbox(frank, 1)), nil)
		m := regexp.MustCompile(`action="(/mailbox-2fa/enroll/[A-Za-z0-9_-]{43})/email-code"`).FindStringSubmatch(qr)
		if m == nil || !strings.Contains(qr, "f***@recovery.example") {
			t.Fatalf("QR page offers no e-mailed codes (masked recovery address):\n%s", qr)
		}
		if st, form := h.page("POST", m[1]+"/email-code", nil); st != 200 || !strings.Contains(form, `name="email_code"`) {
			t.Fatalf("send code from the page = %d:\n%s", st, form)
		}
		code := codeRE.FindStringSubmatch(h.mailbox(rec, 1))
		if code == nil {
			t.Fatal("no code in the mail to the recovery address")
		}
		if st, _ := h.page("POST", m[1], url.Values{"email_code": {"000000"}}); st != 401 {
			t.Errorf("wrong e-mailed code on the page = %d; want 401", st)
		}
		st, done := h.page("POST", m[1], url.Values{"email_code": {code[1]}})
		if st != 200 || len(backupRE.FindAllString(done, -1)) != 10 {
			t.Fatalf("confirm with the e-mailed code = %d:\n%s", st, done)
		}
		if s := h.status(frank); !s.Enrolled || !slices.Equal(s.Methods, []string{"email", "backup_code"}) {
			t.Errorf("status = %+v; want enrolled with email and backup_code", s)
		}
		h.clock.Advance(2 * time.Minute)
		h.do("POST", "/v1/mailbox-2fa/"+frank+"/email-code", h.key, "", 202, nil)
		code = codeRE.FindStringSubmatch(h.mailbox(rec, 2))
		if st, _ := h.verify(frank, fmt.Sprintf(`{"email_code":%q}`, code[1])); st != 200 {
			t.Errorf("e-mailed code = %d; want 200", st)
		}
		if st, _ := h.verify(frank, fmt.Sprintf(`{"code":%q}`, code[1])); st != 401 {
			t.Errorf("the e-mailed code as a TOTP code = %d; want 401", st)
		}
	})

	t.Run("link and QR page expire", func(t *testing.T) {
		h.t = t
		h.do("POST", "/v1/mailbox-2fa/bob@example.org/enroll", h.key, `{}`, 202, nil)
		link := linkRE.FindString(h.mailbox("bob@example.org", 1))
		h.clock.Advance(24*time.Hour + time.Second)
		if st, _ := h.page("GET", link, nil); st != 410 {
			t.Errorf("link after 24h = %d; want 410", st)
		}
		h.do("POST", "/v1/mailbox-2fa/carol@example.org/enroll", h.key, `{}`, 202, nil)
		_, qr := h.page("GET", linkRE.FindString(h.mailbox("carol@example.org", 1)), nil)
		m, act := secretRE.FindStringSubmatch(qr), actionRE.FindStringSubmatch(qr)
		if m == nil || act == nil {
			t.Fatalf("no QR page:\n%s", qr)
		}
		h.clock.Advance(10*time.Minute + time.Second)
		if st, _ := h.page("POST", act[1], url.Values{"code": {"000000"}}); st != 410 {
			t.Errorf("QR page after 10m = %d; want 410", st)
		}
		if h.status("carol@example.org").Enrolled {
			t.Error("carol enrolled from an expired page")
		}
	})

	t.Run("step-up while an incident is open, result attached", func(t *testing.T) {
		h.t = t
		if h.status(alice).StepUpRequired {
			t.Fatal("step_up_required without an incident")
		}
		id := h.writeIncident(alice, "open", 1)
		s := h.status(alice)
		if !s.StepUpRequired || !s.Required {
			t.Fatalf("status with an open incident = %+v; want step_up_required and required", s)
		}
		h.clock.Advance(time.Minute)
		if st, v := h.verify(alice, fmt.Sprintf(`{"code":%q}`, h.code(a.secret, 0))); st != 200 || !v.StepUp {
			t.Errorf("verify = %d %+v; want 200 with step_up", st, v)
		}
		h.verify(alice, `{"code":"000000"}`)
		var results []string
		for _, r := range h.rec.find("mailbox_2fa_step_up", id) {
			results = append(results, r.Result)
		}
		if !slices.Equal(results, []string{"passed", "failed"}) {
			t.Errorf("step-up evidence on %s = %v; want [passed failed]", id, results)
		}
		h.writeIncident(alice, "resolved", 2)
		if h.status(alice).StepUpRequired {
			t.Error("step_up_required after the incident was resolved")
		}
	})

	t.Run("step-up while a block_login decision is pending", func(t *testing.T) {
		h.t = t
		h.svc.d.Decisions = pendingDecision{user: alice}
		defer func() { h.svc.d.Decisions = nil }()
		if !h.status(alice).StepUpRequired {
			t.Error("step_up_required false while a block_login decision is pending")
		}
	})

	t.Run("concurrent use of one code: exactly one passes", func(t *testing.T) {
		h.t = t
		h.clock.Advance(time.Minute)
		code := h.code(a.secret, 0)
		var wg sync.WaitGroup
		var mu sync.Mutex
		passed := 0
		for range 8 {
			wg.Go(func() {
				if st, _ := h.verify(alice, fmt.Sprintf(`{"code":%q}`, code)); st == 200 {
					mu.Lock()
					passed++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if passed != 1 {
			t.Errorf("%d of 8 concurrent uses passed; want 1", passed)
		}
	})

	t.Run("brute force: lockout with backoff, per-address limit", func(t *testing.T) {
		h.t = t
		const dave = "dave@example.org"
		d := h.enroll(dave, `{}`, 1)
		h.clock.Advance(time.Minute)
		for i := range 10 {
			if st, _ := h.verify(dave, fmt.Sprintf(`{"code":"%06d"}`, i)); st != 401 {
				t.Fatalf("wrong code %d = %d; want 401", i, st)
			}
		}
		if st, _ := h.verify(dave, fmt.Sprintf(`{"code":%q}`, h.code(d.secret, 0))); st != 401 {
			t.Errorf("right code while locked = %d; want 401", st)
		}
		if len(h.rec.find("mailbox_2fa_locked", dave)) == 0 {
			t.Error("no mailbox_2fa_locked audit record")
		}
		h.clock.Advance(time.Minute + time.Second) // the attempt while locked grew the lock to 2 minutes
		if st, _ := h.verify(dave, fmt.Sprintf(`{"code":%q}`, h.code(d.secret, 0))); st != 401 {
			t.Errorf("right code one minute later = %d; want 401 (backoff grew)", st)
		}
		h.clock.Advance(5 * time.Minute)
		if st, _ := h.verify(dave, fmt.Sprintf(`{"code":%q}`, h.code(d.secret, 0))); st != 200 {
			t.Errorf("right code after the lock = %d; want 200", st)
		}
		h.clock.Advance(time.Minute)
		limited := 0
		for range 32 {
			if st, _ := h.verify("nobody@example.org", `{"code":"123456"}`); st == 429 {
				limited++
			}
		}
		if limited != 2 {
			t.Errorf("%d of 32 attempts in a minute throttled; want 2 (limit 30)", limited)
		}
	})

	t.Run("policy: required domain refuses disable by code, admin reset audited", func(t *testing.T) {
		h.t = t
		h.login() // the session of the start ended with the clock's day
		const erin = "erin@strict.example"
		s := h.status(erin)
		if !s.Required || s.Enrolled || s.Policy != "required" {
			t.Errorf("status of %s = %+v; want required, not enrolled", erin, s)
		}
		e := h.enroll(erin, `{}`, 1)
		h.clock.Advance(time.Minute)
		h.do("POST", "/v1/mailbox-2fa/"+erin+"/disable", h.key, fmt.Sprintf(`{"code":%q}`, h.code(e.secret, 0)), 403, nil)
		h.do("POST", "/v1/mailbox-2fa/"+erin+"/disable", h.admin, `{}`, 204, nil)
		if len(h.rec.find("mailbox_2fa_reset", erin)) != 1 || h.status(erin).Enrolled {
			t.Error("admin reset not audited or not applied")
		}
	})

	t.Run("disable needs a current code", func(t *testing.T) {
		h.t = t
		h.clock.Advance(time.Minute)
		h.do("POST", "/v1/mailbox-2fa/"+alice+"/disable", h.key, `{}`, 400, nil)
		h.do("POST", "/v1/mailbox-2fa/"+alice+"/disable", h.key, `{"code":"000000"}`, 401, nil)
		h.do("POST", "/v1/mailbox-2fa/"+alice+"/disable", h.key, fmt.Sprintf(`{"code":%q}`, h.code(a.secret, 0)), 204, nil)
		if h.status(alice).Enrolled || len(h.rec.find("mailbox_2fa_disabled", alice)) != 1 {
			t.Error("disable not applied or not audited")
		}
	})
}

// pendingDecision stands in for issue 12's decisions (which do not exist yet): one user has a pending block_login.
type pendingDecision struct{ user string }

func (p pendingDecision) BlockLoginPending(_ context.Context, user string) (bool, error) {
	return user == p.user, nil
}
