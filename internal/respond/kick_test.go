package respond_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/respond"
	"github.com/vigil-ids/vigil/internal/testenv"
)

const doveadmKey = "vigil-test-doveadm-key"

func TestDoveadmKickClosesALiveSession(t *testing.T) {
	dc := testenv.StartDovecot(t, testenv.DovecotOptions{Users: map[string]string{"victim@example.org": "pw1", "bystander@example.org": "pw2"},
		DoveadmAPIKey: doveadmKey})
	victim, err := testenv.OpenIMAPSession(dc.IMAPAddr, "203.0.113.50", "victim@example.org", "pw1")
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	bystander, err := testenv.OpenIMAPSession(dc.IMAPAddr, "203.0.113.51", "bystander@example.org", "pw2")
	if err != nil {
		t.Fatal(err)
	}
	defer bystander.Close()

	h := setup(t)
	k, err := respond.NewDoveadm(dc.DoveadmURL, doveadmKey+"\n")
	if err != nil {
		t.Fatal(err)
	}
	h.kicker = k
	h.start(enforceAll)
	h.publish(addrIncident("password_spray", "198.51.100.0/24", 1, now.Add(-time.Hour), "victim@example.org"))
	if err := victim.WaitClosed(10 * time.Second); err != nil {
		t.Fatalf("victim's IMAP session after the kick decision: %v (dovecot log: %s)", err, tail(dc.LogPath))
	}
	testenv.Eventually(t, 5*time.Second, "the kick counted", func() bool { return h.metric("vigil_responder_kicks_total", "result=ok") == 1 })
	if r, err := bystander.Command("NOOP"); err != nil || !strings.HasPrefix(r, "OK") {
		t.Errorf("the bystander's session: NOOP = %q, %v; want it untouched", r, err)
	}
}

func TestKickFailureDoesNotBlockTheDecision(t *testing.T) {
	dc := testenv.StartDovecot(t, testenv.DovecotOptions{Users: map[string]string{"victim@example.org": "pw1"}, DoveadmAPIKey: doveadmKey})
	h := setup(t)
	k, err := respond.NewDoveadm(dc.DoveadmURL, "the-wrong-key")
	if err != nil {
		t.Fatal(err)
	}
	h.kicker = k
	h.tune = fastKickRetry
	h.start(enforceAll)
	h.publish(addrIncident("password_spray", "198.51.100.0/24", 1, now.Add(-time.Hour), "victim@example.org"))
	h.waitDrained()
	testenv.Eventually(t, 15*time.Second, "failed kick attempts counted", func() bool { return h.metric("vigil_responder_kick_attempts_total", "result=failed") >= 2 })
	if got := len(h.decisions(func(d decision.Decision) bool { return d.Subject == "victim@example.org" })); got != 2 {
		t.Errorf("victim has %d decisions; want block_login and kick stored despite the failed kick", got)
	}
}

// fastKickRetry makes a failed kick retried after 100ms, 200ms, ... up to 1s, and a claim last 2s.
func fastKickRetry(o *respond.Options) {
	o.KickRetry, o.KickRetryMax, o.KickLease = 100*time.Millisecond, time.Second, 2*time.Second
}

// kickRec is a kick record as the responder stores it.
type kickRec struct {
	Attempts  int       `json:"attempts"`
	NotBefore time.Time `json:"not_before"`
	By        string    `json:"by"`
	LastError string    `json:"last_error"`
	Outcome   string    `json:"outcome"`
}

// kickRecord returns the kick record of a decision; ok false when there is none.
func (h *harness) kickRecord(id string) (rec kickRec, ok bool) {
	h.t.Helper()
	ctx := context.Background()
	kv, err := h.js.KeyValue(ctx, respond.KicksBucket(decision.DefaultBucket))
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return rec, false
	}
	if err != nil {
		h.t.Fatal(err)
	}
	e, err := kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return rec, false
	}
	if err != nil {
		h.t.Fatal(err)
	}
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		h.t.Fatalf("kick record %s: %v", e.Value(), err)
	}
	return rec, true
}

// kickDecision stores a kick decision on user as the responder would have before a crash, created ago.
func (h *harness) kickDecision(user string, ago time.Duration) decision.Decision {
	h.t.Helper()
	d, _, err := h.store.Put(context.Background(), decision.Decision{Kind: decision.User, Subject: user, Action: decision.Kick,
		Reason: "sprayed", CreatedBy: decision.System, Rule: "password_spray", CreatedAt: time.Now().Add(-ago), ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		h.t.Fatal(err)
	}
	return d
}

// gate forwards TCP connections to a target once opened; until then nothing listens on its address.
type gate struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	conns  []net.Conn
}

func newGate(t *testing.T, target string) *gate {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{t: t, addr: ln.Addr().String(), target: target}
	ln.Close()
	t.Cleanup(func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, c := range g.conns {
			c.Close()
		}
	})
	return g
}

func (g *gate) url() string { return "http://" + g.addr }

// open starts listening and forwarding.
func (g *gate) open() {
	ln, err := net.Listen("tcp", g.addr)
	if err != nil {
		g.t.Fatalf("open the gate: %v", err)
	}
	g.t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", g.target)
			if err != nil {
				c.Close()
				continue
			}
			g.mu.Lock()
			g.conns = append(g.conns, c, up)
			g.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

// hang listens on a loopback address that accepts connections and never answers (a hung doveadm).
func hang(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return "http://" + ln.Addr().String()
}

// TestKickRetriedUntilDoveadmAnswers: doveadm unreachable when the kick decision is made, reachable later; the
// responder keeps trying with backoff and the live session ends once doveadm answers.
func TestKickRetriedUntilDoveadmAnswers(t *testing.T) {
	dc := testenv.StartDovecot(t, testenv.DovecotOptions{Users: map[string]string{"victim@example.org": "pw1"}, DoveadmAPIKey: doveadmKey})
	victim, err := testenv.OpenIMAPSession(dc.IMAPAddr, "203.0.113.50", "victim@example.org", "pw1")
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	g := newGate(t, strings.TrimPrefix(dc.DoveadmURL, "http://"))
	h := setup(t)
	if h.kicker, err = respond.NewDoveadm(g.url(), doveadmKey); err != nil {
		t.Fatal(err)
	}
	h.tune = fastKickRetry
	h.start(enforceAll)
	h.publish(addrIncident("password_spray", "198.51.100.0/24", 1, now.Add(-time.Hour), "victim@example.org"))
	testenv.Eventually(t, 15*time.Second, "three failed kick attempts", func() bool { return h.metric("vigil_responder_kick_attempts_total", "result=failed") >= 3 })
	if r, err := victim.Command("NOOP"); err != nil || !strings.HasPrefix(r, "OK") {
		t.Fatalf("victim's session while doveadm is unreachable: NOOP = %q, %v; want it still open", r, err)
	}
	ds := h.decisions(func(d decision.Decision) bool { return d.Action == decision.Kick })
	if len(ds) != 1 {
		t.Fatalf("%d kick decisions; want 1", len(ds))
	}
	if rec, ok := h.kickRecord(ds[0].ID); !ok || rec.Outcome != "" || rec.Attempts < 3 || !strings.Contains(rec.LastError, "doveadm kick") {
		t.Errorf("kick record while doveadm is unreachable = %+v, %v; want attempts counted, the error, no outcome", rec, ok)
	}
	g.open()
	if err := victim.WaitClosed(15 * time.Second); err != nil {
		t.Fatalf("victim's IMAP session after doveadm came back: %v (dovecot log: %s)", err, tail(dc.LogPath))
	}
	testenv.Eventually(t, 5*time.Second, "the kick's outcome recorded", func() bool {
		rec, _ := h.kickRecord(ds[0].ID)
		return rec.Outcome == respond.KickDone
	})
	if n := h.metric("vigil_responder_kicks_total", "result=ok"); n != 1 {
		t.Errorf("vigil_responder_kicks_total{ok} = %v; want 1", n)
	}
	if n := h.metric("vigil_responder_kick_attempts_total", "result=ok"); n != 1 {
		t.Errorf("vigil_responder_kick_attempts_total{ok} = %v; want 1", n)
	}
	if n := h.audit.count(respond.AuditKick, ds[0].ID); n != 1 {
		t.Errorf("%d kick audit records; want 1", n)
	}
}

// TestKickCarriedOutAfterRestart: a kick decision stored by a responder that stopped before kicking (long enough
// ago that no redelivery would bring it back), and one whose responder stopped in the middle of its doveadm call,
// are both carried out by the next responder.
func TestKickCarriedOutAfterRestart(t *testing.T) {
	users := map[string]string{"early@example.org": "pw1", "midway@example.org": "pw2"}
	dc := testenv.StartDovecot(t, testenv.DovecotOptions{Users: users, DoveadmAPIKey: doveadmKey})
	sessions := map[string]*testenv.IMAPSession{}
	for u, pw := range users {
		s, err := testenv.OpenIMAPSession(dc.IMAPAddr, "203.0.113.60", u, pw)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		sessions[u] = s
	}
	h := setup(t)
	h.tune = fastKickRetry
	// The first responder's doveadm hangs: it claims the kick of midway and is stopped during the call.
	var err error
	if h.kicker, err = respond.NewDoveadm(hang(t), doveadmKey); err != nil {
		t.Fatal(err)
	}
	stop := h.start(enforceAll)
	midway := h.kickDecision("midway@example.org", 10*time.Minute)
	testenv.Eventually(t, 10*time.Second, "midway's kick claimed", func() bool {
		rec, ok := h.kickRecord(midway.ID)
		return ok && rec.Attempts == 1
	})
	stop()
	first, _ := h.kickRecord(midway.ID)
	early := h.kickDecision("early@example.org", 10*time.Minute) // stored, and then the responder was gone

	if h.kicker, err = respond.NewDoveadm(dc.DoveadmURL, doveadmKey); err != nil {
		t.Fatal(err)
	}
	h.start(enforceAll)
	for u, s := range sessions {
		if err := s.WaitClosed(15 * time.Second); err != nil {
			t.Errorf("%s's IMAP session after the restart: %v", u, err)
		}
	}
	for _, d := range []decision.Decision{early, midway} {
		testenv.Eventually(t, 5*time.Second, d.Subject+"'s kick recorded", func() bool {
			rec, _ := h.kickRecord(d.ID)
			return rec.Outcome == respond.KickDone
		})
	}
	if rec, _ := h.kickRecord(midway.ID); rec.Attempts != 2 || rec.By == first.By {
		t.Errorf("midway's kick record = %+v; want a second attempt by the new responder (the first was %+v)", rec, first)
	}
	if n := h.audit.count(respond.AuditKick, ""); n != 2 {
		t.Errorf("%d kick audit records; want 2", n)
	}
}

// TestOneOfTwoRespondersKicks: two responders see the same kick decisions; for each, one calls doveadm.
func TestOneOfTwoRespondersKicks(t *testing.T) {
	dc := testenv.StartDovecot(t, testenv.DovecotOptions{Users: map[string]string{"victim@example.org": "pw1"}, DoveadmAPIKey: doveadmKey})
	victim, err := testenv.OpenIMAPSession(dc.IMAPAddr, "203.0.113.50", "victim@example.org", "pw1")
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	h := setup(t)
	if h.kicker, err = respond.NewDoveadm(dc.DoveadmURL, doveadmKey); err != nil {
		t.Fatal(err)
	}
	h.start(enforceAll)
	regA := h.reg
	h.start(enforceAll)
	regB := h.reg
	d := h.kickDecision("victim@example.org", 0)
	others := make([]decision.Decision, 10) // accounts without sessions: doveadm finds nothing, which is done
	for i := range others {
		others[i] = h.kickDecision(fmt.Sprintf("idle%d@example.org", i), 0)
	}
	if err := victim.WaitClosed(15 * time.Second); err != nil {
		t.Fatalf("victim's IMAP session: %v", err)
	}
	for _, d := range append(others, d) {
		testenv.Eventually(t, 5*time.Second, d.Subject+"'s kick recorded", func() bool {
			rec, _ := h.kickRecord(d.ID)
			return rec.Outcome == respond.KickDone
		})
	}
	a := metricIn(t, regA, "vigil_responder_kick_attempts_total", "result=ok") + metricIn(t, regA, "vigil_responder_kick_attempts_total", "result=failed")
	b := metricIn(t, regB, "vigil_responder_kick_attempts_total", "result=ok") + metricIn(t, regB, "vigil_responder_kick_attempts_total", "result=failed")
	t.Logf("doveadm calls: %v by the first responder, %v by the second", a, b)
	if a+b != 11 {
		t.Errorf("doveadm called %v times by the first responder and %v by the second; want once per decision, 11", a, b)
	}
	if rec, _ := h.kickRecord(d.ID); rec.Attempts != 1 {
		t.Errorf("kick record = %+v; want one attempt", rec)
	}
	if n := h.audit.count(respond.AuditKick, d.ID); n != 1 {
		t.Errorf("%d kick audit records; want 1", n)
	}
}

// TestKickOfAUserWithoutSessionsIsDone: doveadm answers "not found" (exit code 68) for a user without sessions;
// that is the state the kick wants, not a failure to retry.
func TestKickOfAUserWithoutSessionsIsDone(t *testing.T) {
	dc := testenv.StartDovecot(t, testenv.DovecotOptions{Users: map[string]string{"idle@example.org": "pw1"}, DoveadmAPIKey: doveadmKey})
	h := setup(t)
	var err error
	if h.kicker, err = respond.NewDoveadm(dc.DoveadmURL, doveadmKey); err != nil {
		t.Fatal(err)
	}
	h.start(enforceAll)
	d := h.kickDecision("idle@example.org", 0)
	testenv.Eventually(t, 10*time.Second, "the kick recorded", func() bool {
		rec, _ := h.kickRecord(d.ID)
		return rec.Outcome == respond.KickDone
	})
	if rec, _ := h.kickRecord(d.ID); rec.Attempts != 1 || rec.LastError != "" {
		t.Errorf("kick record = %+v; want one successful attempt", rec)
	}
}

// TestLiftedKickIsAbandonedOnce: a kick that never succeeded ends when its decision is lifted, audited once.
func TestLiftedKickIsAbandonedOnce(t *testing.T) {
	h := setup(t)
	g := newGate(t, "127.0.0.1:1") // never opened: doveadm unreachable throughout
	var err error
	if h.kicker, err = respond.NewDoveadm(g.url(), doveadmKey); err != nil {
		t.Fatal(err)
	}
	h.tune = fastKickRetry
	h.start(enforceAll)
	d := h.kickDecision("victim@example.org", 0)
	testenv.Eventually(t, 10*time.Second, "two failed attempts", func() bool { return h.metric("vigil_responder_kick_attempts_total", "result=failed") >= 2 })
	if _, err := h.store.Lift(context.Background(), d.ID, "root@admin", "wrong account"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "the kick abandoned", func() bool {
		rec, _ := h.kickRecord(d.ID)
		return rec.Outcome == respond.KickAbandoned
	})
	failed := h.metric("vigil_responder_kick_attempts_total", "result=failed")
	if n := h.metric("vigil_responder_kicks_total", "result=abandoned"); n != 1 {
		t.Errorf("vigil_responder_kicks_total{abandoned} = %v; want 1", n)
	}
	if n := h.audit.count(respond.AuditKick, d.ID); n != 1 {
		t.Errorf("%d kick audit records; want 1", n)
	}
	rec, _ := h.kickRecord(d.ID)
	if float64(rec.Attempts) != failed {
		t.Errorf("kick record counts %d attempts, the metric %v; want them equal", rec.Attempts, failed)
	}
}

func TestDoveadmRejectsBadConfiguration(t *testing.T) {
	for _, tt := range []struct{ url, key string }{
		{"ftp://host:1", "k"}, {"http://user:pw@host:1", "k"}, {"http://host:1/?x=1", "k"}, {"http://host:1", ""}, {"http://host:1", "a b"},
	} {
		if _, err := respond.NewDoveadm(tt.url, tt.key); err == nil {
			t.Errorf("NewDoveadm(%q, %q) = nil; want an error", tt.url, tt.key)
		}
	}
}

// tail returns the end of a log file, for a failure message.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
