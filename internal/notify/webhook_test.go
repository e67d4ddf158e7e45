package notify

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/testenv"
)

var hookSecret = []byte("a webhook secret of 32 bytes....")

func hookOptions(url string) Options {
	return Options{Webhooks: []Endpoint{{Name: "siem", URL: url, Secret: hookSecret}},
		Timeout: 2 * time.Second, MaxDeliver: 6, BackoffBase: 50 * time.Millisecond, BackoffMax: 400 * time.Millisecond}
}

// TestWebhookExactlyOnceAcrossRestart is the proof: a real receiver verifies every signature, answers 500
// to (or lets time out) the first attempt of some deliveries, and accepts each delivery id exactly once, also for
// events published while the notifier was stopped and delivered by a new one over the same durable consumers.
func TestWebhookExactlyOnceAcrossRestart(t *testing.T) {
	b := newBus(t)
	rcv := newReceiver(t, hookSecret)
	a1, a2, a3 := sampleIncident("alice@example.org", 1), sampleIncident("alice@example.org", 2), sampleIncident("alice@example.org", 3)
	b1 := sampleIncident("bob@example.org", 1)
	c2 := sampleIncident("carol@example.org", 2) // its version 1 never reached the stream: 2 opens it
	dec := decision.Decision{Kind: decision.User, Subject: "alice@example.org", Action: decision.HoldMail, IncidentID: a1.ID,
		Rule: "multi_country", Reason: "logins from two countries", CreatedBy: decision.System, CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}
	dec.ID = decision.ID(dec.Kind, dec.Subject, dec.Action, a1.ID)
	reviewID := func(seq int) string { return fmt.Sprintf("review.%s.%d", a1.ID, seq) }
	rcv.mu.Lock()
	rcv.fail["incident."+natsbus.IncidentMsgID(a1.ID, 1)] = true
	rcv.fail["decision."+dec.ID+".added"] = true
	rcv.fail[reviewID(1)] = true
	rcv.hang["incident."+natsbus.IncidentMsgID(b1.ID, 1)] = true
	rcv.mu.Unlock()

	stop := b.start(hookOptions(rcv.srv.URL), nil)
	store := b.decisions()
	b.incident(a1)
	b.incident(a2)
	b.incident(b1)
	b.incident(a1) // a detector's redelivery: the stream's deduplication keeps one
	b.review(a1.ID, "acknowledged", "acknowledge", "", t0.Add(time.Hour))
	if _, _, err := store.Put(context.Background(), dec); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Lift(context.Background(), dec.ID, "root", "travelling"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "6 deliveries accepted", func() bool { return rcv.acceptedIDs() == 6 })
	stop() // the notifier stops; what is published now waits in the streams

	b.incident(a3)
	b.incident(c2)
	b.review(a1.ID, "resolved", "resolve", "user_travelling", t0.Add(2*time.Hour))
	b.start(hookOptions(rcv.srv.URL), nil) // a new notifier over the same durable consumers
	testenv.Eventually(t, 20*time.Second, "9 deliveries accepted", func() bool { return rcv.acceptedIDs() == 9 })
	for _, s := range []string{natsbus.IncidentsStream, "KV_" + ReviewsBucket, "KV_" + DecisionsBucket} {
		testenv.WaitDrained(t, b.js, s, "vigil-notify-webhook-siem-")
	}

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.bad) > 0 {
		t.Errorf("receiver refused deliveries: %q", rcv.bad)
	}
	want := map[string]Type{
		"incident." + natsbus.IncidentMsgID(a1.ID, 1): IncidentOpened,
		"incident." + natsbus.IncidentMsgID(a2.ID, 2): IncidentUpdated,
		"incident." + natsbus.IncidentMsgID(b1.ID, 1): IncidentOpened,
		"incident." + natsbus.IncidentMsgID(a3.ID, 3): IncidentUpdated,
		"incident." + natsbus.IncidentMsgID(c2.ID, 2): IncidentOpened,
		"decision." + dec.ID + ".added":               DecisionAdded,
		"decision." + dec.ID + ".lifted":              DecisionLifted,
	}
	reviews := 0
	for id, n := range rcv.accepted {
		if n != 1 {
			t.Errorf("delivery %s accepted %d times; want once", id, n)
		}
		if strings.HasPrefix(id, "review.") {
			reviews++
			if rcv.events[id].Type != IncidentReviewed {
				t.Errorf("delivery %s has type %s; want %s", id, rcv.events[id].Type, IncidentReviewed)
			}
			continue
		}
		if typ, ok := want[id]; !ok {
			t.Errorf("unexpected delivery %s", id)
		} else if rcv.events[id].Type != typ {
			t.Errorf("delivery %s has type %s; want %s", id, rcv.events[id].Type, typ)
		}
	}
	if reviews != 2 {
		t.Errorf("%d review deliveries accepted; want 2", reviews)
	}
	for id := range want {
		if rcv.accepted[id] != 1 {
			t.Errorf("delivery %s accepted %d times; want once", id, rcv.accepted[id])
		}
	}
	for id := range rcv.fail {
		if rcv.attempts[id] != 2 {
			t.Errorf("delivery %s attempted %d times; want 2 (one 500, one success)", id, rcv.attempts[id])
		}
	}
	for id := range rcv.hang {
		if rcv.attempts[id] != 2 {
			t.Errorf("delivery %s attempted %d times; want 2 (one timeout, one success)", id, rcv.attempts[id])
		}
	}
}

// TestWebhookDeadLetter: an endpoint that always fails gets each event MaxDeliver times, then the event is copied
// to vigil.dlq.notify.<sink> with the reason and is not tried again.
func TestWebhookDeadLetter(t *testing.T) {
	b := newBus(t)
	rcv := newReceiver(t, hookSecret)
	rcv.always = true
	o := hookOptions(rcv.srv.URL)
	o.MaxDeliver = 3
	b.start(o, nil)
	inc := sampleIncident("dave@example.org", 1)
	b.incident(inc)
	ctx := context.Background()
	dlq, err := b.js.CreateOrUpdateConsumer(ctx, natsbus.DLQStream, jetstream.ConsumerConfig{FilterSubject: natsbus.DLQNotify("webhook-siem")})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := dlq.Next(jetstream.FetchMaxWait(20 * time.Second))
	if err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	if r := msg.Headers().Get("Vigil-Reason"); !strings.Contains(r, "gave up after 3 attempts") || !strings.Contains(r, "answered 500") {
		t.Errorf("Vigil-Reason = %q; want the attempts and the last answer", r)
	}
	if s := msg.Headers().Get("Vigil-Subject"); s != natsbus.IncidentSubject("multi_country") {
		t.Errorf("Vigil-Subject = %q; want the incident subject", s)
	}
	testenv.WaitDrained(t, b.js, natsbus.IncidentsStream, "vigil-notify-webhook-siem-")
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if n := rcv.attempts["incident."+natsbus.IncidentMsgID(inc.ID, 1)]; n != 3 {
		t.Errorf("attempts = %d; want 3 (MaxDeliver)", n)
	}
	if len(rcv.bad) > 0 {
		t.Errorf("receiver refused deliveries: %q", rcv.bad)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"vigil_notify_deliveries_total", []string{"sink", "webhook-siem", "result", "failed"}, 2},
		{"vigil_notify_deliveries_total", []string{"sink", "webhook-siem", "result", "dead_lettered"}, 1},
		{"vigil_notify_deliveries_total", []string{"sink", "webhook-siem", "result", "delivered"}, 0},
		{"vigil_notify_dead_letters_total", []string{"sink", "webhook-siem"}, 1},
	} {
		if got := b.metric(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v; want %v", c.name, c.labels, got, c.want)
		}
	}
}

// TestWebhookAcrossServerRestart: the durable consumers live in JetStream's file store, so events published while
// the notifier was stopped are delivered after both the NATS server and the notifier restarted, each once.
func TestWebhookAcrossServerRestart(t *testing.T) {
	dir := t.TempDir()
	s1 := testenv.NATSAt(t, dir)
	connect := func(s interface{ ClientURL() string }) *bus {
		nc, err := nats.Connect(s.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := natsbus.NewJetStream(nc)
		if err != nil {
			t.Fatal(err)
		}
		return &bus{t: t, js: js}
	}
	b := connect(s1)
	rcv := newReceiver(t, hookSecret)
	stop := b.start(hookOptions(rcv.srv.URL), nil)
	x, y := sampleIncident("frank@example.org", 1), sampleIncident("frank@example.org", 2)
	b.incident(x)
	testenv.Eventually(t, 20*time.Second, "the first delivery", func() bool { return rcv.acceptedIDs() == 1 })
	stop()
	b.incident(y)
	s1.Shutdown()
	s1.WaitForShutdown()

	b = connect(testenv.NATSAt(t, dir))
	b.start(hookOptions(rcv.srv.URL), nil)
	testenv.Eventually(t, 20*time.Second, "the delivery published before the restarts", func() bool { return rcv.acceptedIDs() == 2 })
	testenv.WaitDrained(t, b.js, natsbus.IncidentsStream, "vigil-notify-webhook-siem-")
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for id, n := range rcv.accepted {
		if n != 1 {
			t.Errorf("delivery %s accepted %d times; want once", id, n)
		}
	}
	if e := rcv.events["incident."+natsbus.IncidentMsgID(y.ID, 2)]; e.Type != IncidentUpdated {
		t.Errorf("version 2 after the restart has type %q; want %s (the opened claim survives too)", e.Type, IncidentUpdated)
	}
}
