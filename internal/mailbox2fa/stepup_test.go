package mailbox2fa

import (
	"encoding/base32"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/httpapi"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/testenv"
	"github.com/vigil-ids/vigil/pkg/webmail2fa"
)

// stepUps reads the incident's step-up outcomes through the incident detail API, as the console does.
func (h *harness) stepUps(id string) []chstore.StepUpRow {
	h.t.Helper()
	var d struct {
		StepUps []chstore.StepUpRow `json:"step_ups"`
	}
	h.do("GET", "/v1/incidents/"+id, h.admin, "", 200, &d)
	return d.StepUps
}

func results(rows []chstore.StepUpRow) []string {
	out := []string{}
	for _, r := range rows {
		out = append(out, r.Result+"/"+r.Method)
	}
	return out
}

// TestStepUp drives the webmail side with the reference client (pkg/webmail2fa) against the real stack: step-up
// outcomes land on the incident (API and console page), users without a second factor follow their domain's
// step-up policy, and two auth API replicas share the per-address attempt limit.
func TestStepUp(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	const ip = "198.51.100.7"

	t.Run("enrolled user: outcomes recorded on the incident, its API and its page", func(t *testing.T) {
		h.t = t
		const alice = "alice@example.org"
		a := h.enroll(alice, `{}`, 1)
		id := h.writeIncident(alice, "open", 1)
		st, err := h.cl.Status(ctx, alice, ip)
		if err != nil || st.Next != webmail2fa.Verify || !st.StepUpRequired {
			t.Fatalf("Status = %+v, %v; want next verify with step_up_required", st, err)
		}
		h.clock.Advance(time.Minute)
		if res, err := h.cl.Verify(ctx, alice, webmail2fa.Code{TOTP: h.code(a.secret, 0)}, ip); err != nil || !res.StepUp || res.Method != "totp" {
			t.Fatalf("Verify = %+v, %v; want a passed step-up by totp", res, err)
		}
		h.clock.Advance(time.Minute)
		if _, err := h.cl.Verify(ctx, alice, webmail2fa.Code{TOTP: "000000"}, ip); !errors.Is(err, webmail2fa.ErrInvalidCode) {
			t.Errorf("Verify(wrong) = %v; want ErrInvalidCode", err)
		}
		rows := h.stepUps(id)
		if got := results(rows); !slices.Equal(got, []string{"failed/totp", "passed/totp"}) {
			t.Fatalf("step_ups of the incident = %v; want [failed/totp passed/totp] (newest first)", got)
		}
		if rows[1].ClientIP != ip || rows[1].User != alice || rows[1].Actor == "" || !rows[1].Time.Equal(h.clock.Now().Add(-time.Minute).Truncate(time.Second)) {
			t.Errorf("passed row = %+v; want %s from %s by the API key at the test clock", rows[1], alice, ip)
		}
		req, _ := http.NewRequest("GET", h.srv.URL+"/console/incidents/"+id, nil)
		req.AddCookie(&http.Cookie{Name: "vigil_session", Value: h.admin})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		page := string(raw)
		block := page[max(strings.Index(page, `<section id="step-ups-block">`), 0):]
		if resp.StatusCode != 200 || !strings.Contains(block, `<table id="step-ups">`) || strings.Count(block, "<code>"+ip+"</code>") != 2 ||
			!strings.Contains(block, `badge passed`) || !strings.Contains(block, `badge failed`) {
			t.Errorf("console incident page = %d without the step-up block and its two rows:\n%s", resp.StatusCode, block)
		}
	})

	t.Run("unenrolled user, policy email: a one-time code to the mailbox through Postfix and Dovecot", func(t *testing.T) {
		h.t = t
		const grace = "grace@example.org"
		if st, err := h.cl.Status(ctx, grace, ip); err != nil || st.Next != webmail2fa.Open {
			t.Fatalf("Status without an incident = %+v, %v; want next open", st, err)
		}
		id := h.writeIncident(grace, "open", 1)
		st, err := h.cl.Status(ctx, grace, ip)
		if err != nil || st.Next != webmail2fa.Verify || st.Enrolled || !st.StepUpRequired || !slices.Equal(st.Methods, []string{"email"}) || st.EmailTo != "g***@example.org" {
			t.Fatalf("Status with an incident = %+v, %v; want next verify by e-mail to g***@example.org", st, err)
		}
		if _, err := h.cl.Verify(ctx, grace, webmail2fa.Code{Email: "123456"}, ip); !errors.Is(err, webmail2fa.ErrInvalidCode) {
			t.Errorf("Verify before a code was sent = %v; want ErrInvalidCode", err)
		}
		if _, err := h.cl.Verify(ctx, grace, webmail2fa.Code{TOTP: "123456"}, ip); !errors.Is(err, webmail2fa.ErrNotEnrolled) {
			t.Errorf("Verify with a TOTP code = %v; want ErrNotEnrolled (only the e-mailed code)", err)
		}
		h.clock.Advance(time.Minute)
		if err := h.cl.SendEmailCode(ctx, grace); err != nil {
			t.Fatal(err)
		}
		m := codeRE.FindStringSubmatch(h.mailbox(grace, 1))
		if m == nil {
			t.Fatal("no code in the mail to the mailbox")
		}
		if res, err := h.cl.Verify(ctx, grace, webmail2fa.Code{Email: m[1]}, ip); err != nil || !res.StepUp || res.Method != "email" {
			t.Fatalf("Verify(e-mailed code) = %+v, %v; want a passed step-up by email", res, err)
		}
		h.clock.Advance(time.Second)
		if _, err := h.cl.Verify(ctx, grace, webmail2fa.Code{Email: m[1]}, ip); !errors.Is(err, webmail2fa.ErrInvalidCode) {
			t.Errorf("reused e-mailed code = %v; want ErrInvalidCode", err)
		}
		if got := results(h.stepUps(id)); !slices.Equal(got, []string{"failed/email", "passed/email", "failed/email"}) {
			t.Errorf("step_ups = %v; want [failed/email passed/email failed/email]", got)
		}
		h.writeIncident(grace, "resolved", 2)
		if st, err := h.cl.Status(ctx, grace, ip); err != nil || st.Next != webmail2fa.Open || st.StepUpRequired {
			t.Errorf("Status after the incident was resolved = %+v, %v; want next open", st, err)
		}
		h.clock.Advance(2 * time.Minute)
		if err := h.cl.SendEmailCode(ctx, grace); err == nil {
			t.Error("SendEmailCode without step-up succeeded for a user without e-mailed codes")
		}
	})

	t.Run("unenrolled user, policy deny: no login, recorded as denied", func(t *testing.T) {
		h.t = t
		const ivan = "ivan@deny.example"
		id := h.writeIncident(ivan, "open", 1)
		if st, err := h.cl.Status(ctx, ivan, ip); err != nil || st.Next != webmail2fa.Deny || !st.StepUpRequired {
			t.Fatalf("Status = %+v, %v; want next deny", st, err)
		}
		if _, err := h.cl.Verify(ctx, ivan, webmail2fa.Code{Email: "123456"}, ip); !errors.Is(err, webmail2fa.ErrDenied) {
			t.Errorf("Verify = %v; want ErrDenied", err)
		}
		if err := h.cl.SendEmailCode(ctx, ivan); !errors.Is(err, webmail2fa.ErrDenied) {
			t.Errorf("SendEmailCode = %v; want ErrDenied", err)
		}
		if _, err := h.cl.Enroll(ctx, ivan, "", false); !errors.Is(err, webmail2fa.ErrIncidentOpen) {
			t.Errorf("Enroll during the incident = %v; want ErrIncidentOpen (a second factor bound now would pass the step-up)", err)
		}
		if got := results(h.stepUps(id)); len(got) != 2 || got[0] != "denied/" && got[0] != "denied/email" || got[1] != "denied/" && got[1] != "denied/email" {
			t.Errorf("step_ups = %v; want two denied (status, verify)", got)
		}
		h.writeIncident(ivan, "resolved", 2)
		if st, err := h.cl.Status(ctx, ivan, ip); err != nil || st.Next != webmail2fa.Open {
			t.Errorf("Status after the incident = %+v, %v; want next open", st, err)
		}
	})

	t.Run("unenrolled user, policy allow: no second factor, recorded as allowed", func(t *testing.T) {
		h.t = t
		const judy = "judy@allow.example"
		id := h.writeIncident(judy, "open", 1)
		if st, err := h.cl.Status(ctx, judy, ip); err != nil || st.Next != webmail2fa.Open || st.StepUpRequired {
			t.Fatalf("Status = %+v, %v; want next open", st, err)
		}
		if rows := h.stepUps(id); len(rows) != 1 || rows[0].Result != "allowed" || rows[0].ClientIP != ip {
			t.Errorf("step_ups = %+v; want one allowed from %s", rows, ip)
		}
	})

	t.Run("required domain, unenrolled user with an incident: denied, no enrollment until resolved", func(t *testing.T) {
		h.t = t
		const erin = "erin@strict.example"
		h.writeIncident(erin, "open", 1)
		if st, err := h.cl.Status(ctx, erin, ""); err != nil || st.Next != webmail2fa.Deny {
			t.Errorf("Status = %+v, %v; want next deny (no enrollment during an incident)", st, err)
		}
		if _, err := h.cl.Enroll(ctx, erin, "", false); !errors.Is(err, webmail2fa.ErrIncidentOpen) {
			t.Errorf("Enroll = %v; want ErrIncidentOpen", err)
		}
		h.writeIncident(erin, "resolved", 2)
		if st, err := h.cl.Status(ctx, erin, ""); err != nil || st.Next != webmail2fa.Enroll {
			t.Errorf("Status after the incident = %+v, %v; want next enroll", st, err)
		}
	})

	t.Run("no second factor is bound while an incident is open: the link waits", func(t *testing.T) {
		h.t = t
		const bob = "bob@example.org"
		if _, err := h.cl.Enroll(ctx, bob, "", false); err != nil {
			t.Fatal(err)
		}
		link := linkRE.FindString(h.mailbox(bob, 1))
		h.writeIncident(bob, "open", 1)
		if st, page := h.page("GET", link, nil); st != 403 || !strings.Contains(page, "open security alert") || secretRE.MatchString(page) {
			t.Errorf("link opened during the incident = %d; want 403 without a secret:\n%s", st, page)
		}
		if len(h.rec.find("mailbox_2fa_enroll_refused", bob)) != 1 {
			t.Error("the refused enrollment is not audited")
		}
		h.writeIncident(bob, "resolved", 2)
		st, qr := h.page("GET", link, nil)
		m, act := secretRE.FindStringSubmatch(qr), actionRE.FindStringSubmatch(qr)
		if st != 200 || m == nil || act == nil {
			t.Fatalf("the same link after the incident = %d; want the QR page:\n%s", st, qr)
		}
		secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(m[1], " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		h.writeIncident(bob, "open", 3) // a new alert while the QR page is open
		if st, _ := h.page("POST", html.UnescapeString(act[1]), url.Values{"code": {h.code(secret, 0)}}); st != 403 || h.status(bob).Enrolled {
			t.Errorf("confirm with a right code during the incident = %d; want 403 and not enrolled", st)
		}
	})

	t.Run("bad status parameters", func(t *testing.T) {
		h.t = t
		h.do("GET", "/v1/mailbox-2fa/alice@example.org?client_ip=nope", h.key, "", 400, nil)
		h.do("GET", "/v1/mailbox-2fa/alice@example.org?client_ip=192.0.2.1&client_ip=192.0.2.2", h.key, "", 400, nil)
		h.do("GET", "/v1/mailbox-2fa/alice@example.org?user=x", h.key, "", 400, nil)
	})

	t.Run("two replicas share the per-address limit", func(t *testing.T) {
		h.t = t
		_, _, srv2 := h.node()
		cl2, err := webmail2fa.New(srv2.URL, h.key, nil)
		if err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(time.Minute)
		const user = "mallory@example.org"
		var mu sync.Mutex
		var wg sync.WaitGroup
		counts := map[string]int{}
		for i := range 40 {
			cl := []*webmail2fa.Client{h.cl, cl2}[i%2]
			wg.Go(func() {
				_, err := cl.Verify(ctx, user, webmail2fa.Code{TOTP: fmt.Sprintf("%06d", i)}, ip)
				var e *webmail2fa.Error
				k := "other"
				switch {
				case errors.Is(err, webmail2fa.ErrThrottled) && errors.As(err, &e) && e.RetryAfter > 0:
					k = "throttled"
				case errors.Is(err, webmail2fa.ErrNotEnrolled):
					k = "counted"
				}
				mu.Lock()
				counts[k]++
				mu.Unlock()
				if k == "other" {
					t.Errorf("attempt %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		if counts["counted"] != 30 || counts["throttled"] != 10 {
			t.Errorf("40 attempts over two replicas: %v; want 30 counted and 10 throttled (limit 30 a minute, shared)", counts)
		}
		h.clock.Advance(time.Minute)
		if _, err := cl2.Verify(ctx, user, webmail2fa.Code{TOTP: "123456"}, ip); !errors.Is(err, webmail2fa.ErrNotEnrolled) {
			t.Errorf("attempt in the next minute = %v; want it counted again", err)
		}
	})
}

// The shared limit fails closed: with NATS gone an attempt is refused with 503, not let through.
func TestThrottleFailsClosed(t *testing.T) {
	ns := testenv.NATS(t)
	js, err := natsbus.NewJetStream(testenv.Connect(t, ns))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now
	lim, err := openLimiter(t.Context(), js, 1, 2, now)
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{lim: lim}
	for range 2 {
		if err := s.throttle(t.Context(), "alice@example.org"); err != nil {
			t.Fatalf("attempt within the limit: %v", err)
		}
	}
	var he *httpapi.Error
	if err := s.throttle(t.Context(), "alice@example.org"); !errors.As(err, &he) || he.Status != http.StatusTooManyRequests || he.RetryAfter <= 0 {
		t.Errorf("third attempt = %v; want 429 with Retry-After", err)
	}
	ns.Shutdown()
	start := time.Now()
	if err := s.throttle(t.Context(), "bob@example.org"); !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable {
		t.Errorf("attempt with NATS down = %v; want 503 store_unavailable", err)
	}
	if d := time.Since(start); d > throttleTimeout+3*time.Second {
		t.Errorf("the refusal took %s; want about throttleTimeout (%s)", d, throttleTimeout)
	}
}

// A counter that is not a number (a damaged bucket) refuses the attempt rather than resetting the count.
func TestThrottleRefusesDamagedCounter(t *testing.T) {
	js, err := natsbus.NewJetStream(testenv.Connect(t, testenv.NATS(t)))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC)
	lim, err := openLimiter(t.Context(), js, 1, 10, func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(t.Context(), bucketTries)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(t.Context(), userKey("alice@example.org")+"."+fmt.Sprint(at.Unix()/60), []byte("x")); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := lim.allow(t.Context(), "alice@example.org"); ok || err == nil {
		t.Errorf("allow with a damaged counter = %v, %v; want an error", ok, err)
	}
}
