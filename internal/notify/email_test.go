package notify

import (
	"context"
	"errors"
	"log/slog"
	"net/mail"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testenv"
)

var mailUsers = map[string]string{"ops@example.org": "ops password 1", "alice@example.org": "alice password 1"}

// inbox waits until a Dovecot mailbox holds n messages and returns them, read back over IMAP.
func inbox(t *testing.T, m *testenv.Mail, user string, n int) []string {
	t.Helper()
	var msgs []string
	var err error
	deadline := time.Now().Add(30 * time.Second)
	for {
		msgs, err = testenv.IMAPFetch(m.IMAPAddr, user, mailUsers[user])
		if err == nil && len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(m.PostfixLog)
			t.Fatalf("%s has %d messages after 30s (err %v); want %d\npostfix:\n%s", user, len(msgs), err, n, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func digestPending(t *testing.T, js jetstream.JetStream) int {
	kv, err := js.KeyValue(context.Background(), DigestBucket)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.ListKeys(context.Background())
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for k := range keys.Keys() {
		if k != lastSentKey {
			n++
		}
	}
	return n
}

// TestEmail goes through a real Postfix relay into Dovecot mailboxes: the first change is mailed at once, later
// ones wait for the digest interval and arrive together in one digest (also across a notifier restart), and the
// mailbox owner gets one "was this you?" mail with the incident's logins from ClickHouse and no secret.
func TestEmail(t *testing.T) {
	t.Parallel()
	m := testenv.StartMail(t, testenv.MailOptions{Users: mailUsers, Deliver: true})
	chAddr, db := testenv.ClickHouseDB(t)
	store, err := chstore.Open(t.Context(), chstore.Options{Addr: chAddr, Database: db}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	inc := sampleIncident("alice@example.org", 1)
	const pwhash = "c0ffee00deadbeef"
	logins := []event.Enriched{
		{Event: event.Event{ID: "l1", Kind: event.KindLogin, Time: t0, User: inc.User, Domain: "example.org", IP: netip.MustParseAddr("203.0.113.9"),
			Service: "imap", Success: true, PWHash: pwhash, Session: "sess-secret-1"}, Country: "DE"},
		{Event: event.Event{ID: "l2", Kind: event.KindLogin, Time: t0.Add(time.Minute), User: inc.User, Domain: "example.org", IP: netip.MustParseAddr("198.51.100.7"),
			Service: "webmail", Success: true, PWHash: pwhash, Session: "sess-secret-2"}, Country: "NG"},
	}
	if err := store.Write(t.Context(), logins, nil, nil); err != nil {
		t.Fatal(err)
	}

	b := newBus(t)
	o := Options{Email: &EmailOptions{Relay: m.RelayAddr, From: "vigil@vigil-test.localdomain", To: []string{"ops@example.org"},
		Digest: 4 * time.Second, Owner: true, ConsoleURL: "https://vigil.example.org"}, Timeout: 10 * time.Second, BackoffBase: 100 * time.Millisecond}
	stop := b.start(o, StoreLogins{Store: store})
	b.incident(inc)
	first := inbox(t, m, "ops@example.org", 1)[0]
	if !strings.Contains(first, "incident opened: multi_country alice@example.org") || !strings.Contains(first, "https://vigil.example.org/console/incidents/"+inc.ID) {
		t.Errorf("first digest lacks the incident or its link:\n%s", first)
	}

	owner := inbox(t, m, "alice@example.org", 1)[0]
	for _, want := range []string{"Was this you?", "203.0.113.9", "198.51.100.7", "DE", "NG", "imap", "webmail", "2026-12-01 09:01:00"} {
		if !strings.Contains(owner, want) {
			t.Errorf("owner mail lacks %q:\n%s", want, owner)
		}
	}
	for _, secret := range []string{pwhash, "sess-secret"} {
		if strings.Contains(owner, secret) {
			t.Errorf("owner mail contains the secret %q", secret)
		}
	}

	// Within the interval: queued, then delivered together by a restarted notifier.
	b.incident(sampleIncident("alice@example.org", 2))
	dec := decision.Decision{Kind: decision.User, Subject: inc.User, Action: decision.HoldMail, IncidentID: inc.ID, Rule: "multi_country",
		Reason: "logins from two countries", CreatedBy: decision.System, CreatedAt: t0.Add(3 * time.Minute), ExpiresAt: t0.Add(27 * time.Hour)}
	if _, _, err := b.decisions().Put(context.Background(), dec); err != nil {
		t.Fatal(err)
	}
	b.review(inc.ID, "resolved", "resolve", "user_travelling", t0.Add(4*time.Minute))
	testenv.Eventually(t, 20*time.Second, "3 events waiting for the digest", func() bool { return digestPending(t, b.js) == 3 })
	stop()
	stop = b.start(o, StoreLogins{Store: store})
	msgs := inbox(t, m, "ops@example.org", 2)
	second := msgs[1]
	for _, want := range []string{"incident updated (version 2)", "decision added: hold_mail on alice@example.org", "incident resolved by root (user_travelling)",
		"1 incident(s), 1 review(s), 1 decision(s)"} {
		if !strings.Contains(second, want) {
			t.Errorf("second digest lacks %q:\n%s", want, second)
		}
	}
	d1, d2 := mailDate(t, first), mailDate(t, second)
	if d2.Sub(d1) < 4*time.Second-time.Second { // Date has whole seconds
		t.Errorf("digests %s apart; want at least the 4s interval", d2.Sub(d1))
	}
	if n := len(inbox(t, m, "alice@example.org", 1)); n != 1 {
		t.Errorf("alice has %d mails; want 1 (an update asks no owner again)", n)
	}
	if n := digestPending(t, b.js); n != 0 {
		t.Errorf("%d events still wait after the digest; want 0", n)
	}
	t.Run("relay modes", func(t *testing.T) { testSMTPRelayModes(t, m) })
	stop() // its digest loop would compete with the two below
	t.Run("replicas claim one digest", func(t *testing.T) { testDigestClaim(t, b, o) })
}

// testDigestClaim: two notifiers (auth API replicas) due for the same digest at the same moment send it once.
func testDigestClaim(t *testing.T, b *bus, o Options) {
	o.setDefaults()
	o.Email.Digest = time.Hour
	var sinks [2]*email
	var regs [2]*prometheus.Registry
	for i := range sinks {
		regs[i] = prometheus.NewRegistry()
		var err error
		if sinks[i], err = newEmail(t.Context(), b.js, *o.Email, &o, nil, newMetrics(regs[i]), testLogger()); err != nil {
			t.Fatal(err)
		}
	}
	if err := sinks[0].kv.Delete(t.Context(), lastSentKey); err != nil { // due now
		t.Fatal(err)
	}
	e, err := decisionEvent("0123456789abcdef0123456789abcdef", []byte(`{"id":"0123456789abcdef0123456789abcdef","kind":"user","subject":"x@example.org","action":"kick","reason":"r","created_at":"2026-12-01T09:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := sinks[0].Deliver(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, s := range sinks {
		wg.Go(func() {
			if err := s.digest(t.Context()); err != nil {
				t.Errorf("digest: %v", err)
			}
		})
	}
	wg.Wait()
	sent := metricValue(t, regs[0], "vigil_notify_mails_total", "kind", "digest", "result", "sent") +
		metricValue(t, regs[1], "vigil_notify_mails_total", "kind", "digest", "result", "sent")
	if sent != 1 {
		t.Errorf("%v digests sent by two replicas; want 1", sent)
	}
}

// testSMTPRelayModes: AUTH PLAIN through Postfix's submission port (SASL by Dovecot) succeeds with the right
// password and fails with a wrong one; STARTTLS=always refuses a relay that does not offer it.
func testSMTPRelayModes(t *testing.T, m *testenv.Mail) {
	send := func(addr, user, password, starttls string) error {
		ml := &mailer{addr: addr, from: "ops@example.org", user: user, password: password, starttls: starttls, now: time.Now}
		return ml.send(t.Context(), []string{"alice@example.org"}, "test", "body")
	}
	if err := send(m.SubmissionAddr, "ops@example.org", mailUsers["ops@example.org"], StartTLSAuto); err != nil {
		t.Errorf("send with SMTP AUTH = %v; want nil", err)
	}
	if err := send(m.SubmissionAddr, "ops@example.org", "wrong password", StartTLSAuto); err == nil || !strings.Contains(err.Error(), "smtp auth") ||
		strings.Contains(err.Error(), "wrong password") {
		t.Errorf("send with a wrong password = %v; want an smtp auth error without the password", err)
	}
	if err := send(m.SubmissionAddr, "", "", StartTLSAlways); err == nil || !strings.Contains(err.Error(), "no STARTTLS") {
		t.Errorf("send with STARTTLS=always to a relay without it = %v; want a refusal", err)
	}
	if err := send(m.SubmissionAddr, "", "", StartTLSNever); err == nil || !strings.Contains(err.Error(), "rcpt") {
		t.Errorf("send without AUTH to the submission port = %v; want the recipient refused", err)
	}
}

func mailDate(t *testing.T, raw string) time.Time {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	d, err := msg.Header.Date()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestOwnerMailFromEvidence: without a login history the owner mail lists the incident's own evidence per country.
func TestOwnerMailFromEvidence(t *testing.T) {
	m := &email{}
	inc := sampleIncident("alice@example.org", 3)
	subject, body, err := m.ownerMail(t.Context(), &inc)
	if err != nil {
		t.Fatal(err)
	}
	if subject != "Was this you? New sign-ins to alice@example.org" {
		t.Errorf("subject = %q", subject)
	}
	for _, want := range []string{"(from DE, NG)", "DE: 1 sign-ins between 2026-12-01 09:00 and 2026-12-01 09:00 UTC from 203.0.113.9",
		"NG: 3 sign-ins between 2026-12-01 09:01 and 2026-12-01 09:03 UTC from 198.51.100.7", "never asks for your password"} {
		if !strings.Contains(body, want) {
			t.Errorf("owner mail lacks %q:\n%s", want, body)
		}
	}
}
