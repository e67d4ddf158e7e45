package postfix

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// heldLog is a HoldRecorder that hands each held message to the test.
type heldLog chan HeldMessage

func (h heldLog) Held(_ context.Context, m HeldMessage) { h <- m }

// enforcing runs a Server answering from a decisions index on a real JetStream (the index loaded when ready) and
// returns it, its address, the decisions store, the events stream and the held messages.
func enforcing(t *testing.T, ready bool) (*Server, string, *decision.Store, jetstream.Stream, heldLog) {
	t.Helper()
	js, err := natsbus.NewJetStream(testenv.Connect(t, testenv.NATS(t)))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := natsbus.EnsureStream(context.Background(), js, natsbus.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := decision.Open(context.Background(), js, decision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	x := decision.NewIndex(ds, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	ctx, cancel := context.WithCancel(context.Background())
	idone := make(chan error, 1)
	if ready {
		go func() { idone <- x.Run(ctx) }()
		<-x.Ready()
	} else {
		idone <- nil
	}
	held := make(heldLog, 16)
	reg := prometheus.NewRegistry()
	s := New(Options{Source: "smtp1", Decisions: x, Held: held}, natsbus.NewPublisher(js, 4, reg), slog.New(slog.DiscardHandler), reg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve = %v", err)
		}
		<-idone
	})
	return s, ln.Addr().String(), ds, stream, held
}

func putDecision(t *testing.T, s *decision.Store, d decision.Decision) decision.Decision {
	t.Helper()
	d.CreatedBy = decision.System
	d, _, err := s.Put(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// answer sends req on a fresh connection until want comes back (the index sees a put within milliseconds) or 5s.
func answer(t *testing.T, addr, req, want string) string {
	t.Helper()
	c, r := dial(t, addr)
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := exchange(c, r, req)
		if err != nil {
			t.Fatal(err)
		}
		if got == want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEndOfMessageAnswersFromDecisions(t *testing.T) {
	s, addr, ds, stream, held := enforcing(t, true)
	const inc = "00112233445566778899aabbccddeeff"
	hold := putDecision(t, ds, decision.Decision{Kind: decision.User, Subject: "alice", Action: decision.HoldMail, IncidentID: inc, Rule: "send_volume", Reason: "sending spam: 500 messages in 2 h"})
	putDecision(t, ds, decision.Decision{Kind: decision.User, Subject: "bob", Action: decision.DeferMail})
	putDecision(t, ds, decision.Decision{Kind: decision.User, Subject: "carol", Action: decision.HoldMail, Reason: "Ümlaut reason"})
	putDecision(t, ds, decision.Decision{Kind: decision.User, Subject: "carol", Action: decision.DeferMail, Reason: "defer wins"})
	putDecision(t, ds, decision.Decision{Kind: decision.User, Subject: "dave", Action: decision.BlockLogin})
	putDecision(t, ds, decision.Decision{Kind: decision.User, Subject: "erin", Action: decision.HoldMail, Observe: true})

	const holdAnswer = "action=HOLD sending spam: 500 messages in 2 h\n"
	if got := answer(t, addr, request("END-OF-MESSAGE", "Alice", "E3F44D031A", 3), holdAnswer); got != holdAnswer {
		t.Fatalf("END-OF-MESSAGE of a held user = %q; want %q", got, holdAnswer)
	}
	c, r := dial(t, addr)
	for _, tt := range []struct{ name, req, want string }{
		{"held user, RCPT stage", request("RCPT", "alice", "", 0), "action=DUNNO\n"},
		{"held user, unauthenticated", request("END-OF-MESSAGE", "", "Q2", 1), "action=DUNNO\n"},
		{"deferred user", request("END-OF-MESSAGE", "bob", "Q3", 1), "action=451 4.7.1 " + DefaultDeferText + "\n"},
		{"defer before hold, non-ASCII replaced", request("END-OF-MESSAGE", "carol", "Q4", 1), "action=451 4.7.1 defer wins\n"},
		{"block_login does not stop mail", request("END-OF-MESSAGE", "dave", "Q5", 1), "action=DUNNO\n"},
		{"observe-mode hold", request("END-OF-MESSAGE", "erin", "Q6", 1), "action=DUNNO\n"},
		{"nobody", request("END-OF-MESSAGE", "frank", "Q7", 1), "action=DUNNO\n"},
	} {
		if got, err := exchange(c, r, tt.req); err != nil || got != tt.want {
			t.Errorf("%s: answer = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	select {
	case m := <-held:
		want := HeldMessage{QueueID: "E3F44D031A", Instance: "1a2b.3c4d.1", User: "alice", Sender: "Alice@example.org", RecipientCount: 3, Size: 1234,
			ClientAddress: netip.MustParseAddr("81.2.69.142"), Source: "smtp1", DecisionID: hold.ID, IncidentID: inc, Reason: hold.Reason}
		if diff := cmp.Diff(want, m, cmpopts.EquateComparable(netip.Addr{}), cmpopts.IgnoreFields(HeldMessage{}, "Time")); diff != "" || m.Time.IsZero() {
			t.Errorf("held message (-want +got):\n%s", diff)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the hold recorder was not told of the held message")
	}
	if len(held) != 0 {
		t.Errorf("%d more held messages recorded; want only alice's", len(held))
	}
	// Held and deferred messages are still sends of their users: the detector keeps counting them.
	users := map[string]bool{}
	for _, e := range stored(t, stream, 6) {
		users[e.User] = true
	}
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin", "frank"} {
		if !users[u] {
			t.Errorf("no send event of %s", u)
		}
	}
	for v, want := range map[string]float64{verdictHold: 1, verdictDefer: 2, verdictDunno: 3} {
		if n := testutil.ToFloat64(s.m.verdicts.WithLabelValues(v)); n < want {
			t.Errorf("verdicts{%s} = %v; want at least %v", v, n, want)
		}
	}
}

// Before the index has loaded the bucket, mail goes through: DUNNO, counted as not_ready.
func TestEndOfMessageBeforeTheIndexIsReady(t *testing.T) {
	s, addr, ds, _, _ := enforcing(t, false)
	putDecision(t, ds, decision.Decision{Kind: decision.User, Subject: "alice", Action: decision.HoldMail})
	c, r := dial(t, addr)
	if got, err := exchange(c, r, request("END-OF-MESSAGE", "alice", "Q1", 1)); err != nil || got != "action=DUNNO\n" {
		t.Errorf("answer = %q, %v; want action=DUNNO", got, err)
	}
	if n := testutil.ToFloat64(s.m.verdicts.WithLabelValues(verdictNotReady)); n != 1 {
		t.Errorf("verdicts{not_ready} = %v; want 1", n)
	}
}

// TestRealPostfixHoldsAndDefers runs a real Postfix with the shipped snippet against the enforcing server: a held
// user's message is accepted (the client sees success) and waits in the hold queue (postqueue -j), a deferred
// user's message is refused with the 4xx at end of data, and everybody else's is queued normally.
func TestRealPostfixHoldsAndDefers(t *testing.T) {
	_, addr, ds, _, held := enforcing(t, true)
	mail := testenv.StartMail(t, testenv.MailOptions{Users: map[string]string{"alice": "pw", "bob": "pw", "carol": "pw"}, PostfixPolicy: addr})
	putDecision(t, ds, decision.Decision{Kind: decision.User, Subject: "alice", Action: decision.HoldMail, Reason: "held: unusual sending"})
	putDecision(t, ds, decision.Decision{Kind: decision.User, Subject: "bob", Action: decision.DeferMail, Reason: "sending suspended"})
	answer(t, addr, request("END-OF-MESSAGE", "bob", "Q0", 1), "action=451 4.7.1 sending suspended\n") // both decisions are in the index

	q, err := testenv.Submit(mail.SubmissionAddr, "81.2.69.142", "alice", "pw", []string{"x@example.net"})
	if err != nil {
		t.Fatalf("alice's submission: %v; want accepted (held)", err)
	}
	_, err = testenv.Submit(mail.SubmissionAddr, "81.2.69.142", "bob", "pw", []string{"x@example.net"})
	if err == nil || !strings.Contains(err.Error(), "451") || !strings.Contains(err.Error(), "sending suspended") {
		t.Errorf("bob's submission = %v; want refused with 451 4.7.1 sending suspended", err)
	}
	if _, err := testenv.Submit(mail.SubmissionAddr, "81.2.69.142", "carol", "pw", []string{"x@example.net"}); err != nil {
		t.Errorf("carol's submission: %v", err)
	}
	var queues map[string]string
	deadline := time.Now().Add(10 * time.Second)
	for {
		queues = map[string]string{}
		for _, m := range mail.Postfix.Queue(t) {
			queues[m.QueueID] = m.Queue
		}
		if queues[q] == "hold" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if queues[q] != "hold" {
		t.Errorf("alice's message %s is in queue %q (postqueue -j: %v); want hold", q, queues[q], queues)
	}
	for id, name := range queues {
		if id != q && name == "hold" {
			t.Errorf("message %s is held too; want only alice's", id)
		}
	}
	select {
	case m := <-held:
		if m.QueueID != q || m.User != "alice" || m.RecipientCount != 1 || m.Size == 0 {
			t.Errorf("held message = %+v; want alice's %s with 1 recipient and its size", m, q)
		}
	case <-time.After(5 * time.Second):
		t.Error("the hold recorder was not told of alice's message")
	}
}
