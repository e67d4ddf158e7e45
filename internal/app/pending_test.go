package app

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// TestPendingBlocks: mailbox 2FA's step-up sees a block_login on the user that is enforced or only observed, and
// stops seeing it once lifted; other actions and other users do not count; before the index loads it errs (and
// mailbox 2FA then asks for the second factor).
func TestPendingBlocks(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	js, err := natsbus.NewJetStream(testenv.Connect(t, testenv.NATS(t)))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{StreamReplicas: 1}
	idx, err := newDecisionIndex(ctx, cfg, js, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	p := pendingBlocks{idx}
	if _, err := p.BlockLoginPending(ctx, "alice@example.org"); !errors.Is(err, errDecisionsLoading) {
		t.Errorf("before the index loaded: %v; want errDecisionsLoading", err)
	}
	go idx.Run(ctx)
	<-idx.Ready()
	store, err := decision.Open(ctx, js, decisionOptions(cfg))
	if err != nil {
		t.Fatal(err)
	}
	observed, _, err := store.Put(ctx, decision.Decision{Kind: decision.User, Subject: "alice@example.org", Action: decision.BlockLogin, Observe: true, Reason: "two countries", CreatedBy: decision.System})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.Put(ctx, decision.Decision{Kind: decision.User, Subject: "bob@example.org", Action: decision.HoldMail, Reason: "burst", CreatedBy: decision.System}); err != nil {
		t.Fatal(err)
	}
	pending := func(user string) bool {
		ok, err := p.BlockLoginPending(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	waitUntil(t, func() bool { return pending("Alice@example.org") })
	if pending("bob@example.org") {
		t.Error("a hold_mail decision counted as a pending block_login")
	}
	if _, err := store.Lift(ctx, observed.ID, "root", "travelling"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return !pending("alice@example.org") })
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
	}
}
