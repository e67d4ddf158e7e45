package natsbus

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// TestNames pins the NATS names: changing one breaks deployed streams, consumers and subscribers.
func TestNames(t *testing.T) {
	ev := event.Event{Kind: event.KindSend, User: "alice@example.org"}
	for _, tt := range [][2]string{
		{SubjectOf(&ev, 16), "vigil.events.send.1"},
		{SubjectOf(&ev, DefaultPartitions), "vigil.events.send.1"},
		{EventSubject(event.KindLogin, 7), "vigil.events.login.7"},
		{PartitionFilter(12), "vigil.events.*.12"},
		{IncidentSubject("multi_country"), "vigil.incidents.multi_country"},
		{AuditSubject("login_failure"), "vigil.audit.login_failure"},
		{EventsStream, "VIGIL_EVENTS"},
		{EventSubjects, "vigil.events.>"},
		{DLQStream, "VIGIL_DLQ"},
		{DLQSubjects, "vigil.dlq.>"},
		{DLQEvents, "vigil.dlq.events"},
		{DetectorConsumer(7), "vigil-detector-p007"},
		{DetectorWholeConsumer, "vigil-detector-all"},
		{AddrStream, "VIGIL_ADDR"},
		{AddrSubjects, "vigil.addr.>"},
		{AddrSubject(5), "vigil.addr.5"},
		{AddrConsumer(5), "vigil-addr-p005"},
	} {
		if got, want := tt[0], tt[1]; got != want {
			t.Errorf("got %q; want %q", got, want)
		}
	}
	if DefaultPartitions != 16 {
		t.Errorf("DefaultPartitions = %d; want 16", DefaultPartitions)
	}
}

// TestDeadLetter: a dead letter is copied to DLQEvents with its reason, subject and stream sequence, and the
// original is terminated, so the consumer never delivers it again.
func TestDeadLetter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc := testenv.Connect(t, testenv.NATS(t))
	js, err := NewJetStream(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := EnsureStream(ctx, js, StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := EnsureDLQ(ctx, js, 0); err != nil {
		t.Fatal(err)
	}
	subject := EventSubject(event.KindLogin, 3)
	if _, err := js.Publish(ctx, subject, []byte("not json")); err != nil {
		t.Fatal(err)
	}
	c, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: "dlq-test", FilterSubject: PartitionFilter(3), AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: time.Second, MaxDeliver: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := DeadLetter(ctx, js, msg, "undecodable"); err != nil {
		t.Fatalf("DeadLetter: %v", err)
	}
	dlq, err := js.Stream(ctx, DLQStream)
	if err != nil {
		t.Fatal(err)
	}
	got, err := dlq.GetLastMsgForSubject(ctx, DLQEvents)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Data) != "not json" || got.Header.Get("Vigil-Reason") != "undecodable" ||
		got.Header.Get("Vigil-Subject") != subject || got.Header.Get("Vigil-Sequence") != "1" {
		t.Errorf("dead letter = %q, headers %v", got.Data, got.Header)
	}
	// Terminated: after AckWait has passed the consumer neither redelivers it nor counts it as pending.
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumAckPending == 0 && info.AckFloor.Stream == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("message not terminated: ack pending %d, ack floor %d", info.NumAckPending, info.AckFloor.Stream)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if again, err := c.Next(jetstream.FetchMaxWait(2 * time.Second)); err == nil {
		t.Errorf("terminated message delivered again: %s", again.Subject())
	}
}
