package audit

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-ids/vigil/internal/authapi"
	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// While ClickHouse is unreachable, the auditor keeps at most MaxPending rows waiting for a retry plus MaxPending in
// the queue; the rest is dropped and counted.
func TestQueueBoundedWhileClickHouseDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nc := testenv.Connect(t, testenv.NATS(t))
	chAddr, db := testenv.ClickHouseDB(t)
	store, err := chstore.Open(ctx, chstore.Options{Addr: chAddr, Database: db}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	store.Close() // every write fails from now on
	reg := prometheus.NewRegistry()
	const maxPending = 10
	a := New(nc, nil, store, slog.New(slog.DiscardHandler), reg, Options{MaxPending: maxPending, FlushInterval: 5 * time.Millisecond})
	go a.Run(ctx)
	dropped := func() float64 { return testutil.ToFloat64(a.dropped.WithLabelValues("record")) }
	rec := authapi.AuditRecord{EventID: "a_1", Time: time.Now(), Action: "login_failure", Actor: "x", Result: "failure"}
	for range maxPending { // fills the rows awaiting a retry once the flusher took them
		a.Audit(rec)
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.Pending() != maxPending {
		if time.Now().After(deadline) {
			t.Fatalf("Pending() = %d after 5s; want %d", a.Pending(), maxPending)
		}
		time.Sleep(5 * time.Millisecond)
	}
	const sent = 1000
	for range sent {
		a.Audit(rec)
	}
	if got, want := dropped(), float64(sent-maxPending); got != want {
		t.Errorf("dropped = %v after %d records into a full auditor; want %v", got, sent, want)
	}
	if p, q := a.Pending(), len(a.queue); p != maxPending || q != maxPending {
		t.Errorf("Pending() = %d, queued %d; want %d and %d", p, q, maxPending, maxPending)
	}
}
