package cli

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// TestDecision adds, lists and lifts decisions through vigil decision against a real NATS server and ClickHouse,
// shows observe-mode ones as "would …", audits each change in audit_log, and refuses every malformed command line
// with a usage error (exit 2).
func TestDecision(t *testing.T) {
	ns, env := natsEnv(t)
	chAddr, db := testenv.ClickHouseDB(t)
	env["VIGIL_CLICKHOUSE_ADDR"], env["VIGIL_CLICKHOUSE_DATABASE"] = chAddr, db
	ctx := context.Background()
	run := func(args ...string) (string, error) {
		stdout, stderr, err := vigil(ctx, env, append([]string{"decision"}, args...)...)
		return stdout + stderr, err
	}
	out, err := run("add", "-kind", "user", "-action", "hold_mail", "-reason", "sends spam", "-for", "4h", "Alice@Example.org")
	if err != nil || !strings.Contains(out, "alice@example.org hold_mail") {
		t.Fatalf("add: %q, %v", out, err)
	}
	userID := strings.TrimSuffix(strings.Fields(out)[1], ":")
	out, err = run("add", "-kind", "network", "-action", "tarpit", "-delay", "3", "-reason", "spraying", "198.51.100.7/24")
	if err != nil || !strings.Contains(out, "198.51.100.0/24 tarpit 3s") {
		t.Fatalf("add network: %q, %v", out, err)
	}
	netID := strings.TrimSuffix(strings.Fields(out)[1], ":")

	// An observe-mode decision of the policy, written as the responder does.
	js, err := natsbus.NewJetStream(testenv.Connect(t, ns))
	if err != nil {
		t.Fatal(err)
	}
	store, err := decision.Open(ctx, js, decision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	obs, _, err := store.Put(ctx, decision.Decision{Kind: decision.User, Subject: "bob@example.org", Action: decision.HoldMail, Observe: true,
		IncidentID: strings.Repeat("ab", 16), Rule: "send_volume", Reason: "send_volume", CreatedBy: decision.System})
	if err != nil {
		t.Fatal(err)
	}

	for _, bad := range [][]string{
		{"add", "-kind", "user", "-action", "hold_mail", "alice@example.org"},                             // no reason
		{"add", "-kind", "user", "-action", "tarpit", "-delay", "2", "-reason", "x", "alice@example.org"}, // a network action
		{"add", "-kind", "network", "-action", "tarpit", "-reason", "x", "192.0.2.1"},                     // no delay
		{"add", "-kind", "network", "-action", "block_login", "-reason", "x", "10.0.0.0/8"},               // too wide
		{"add", "-kind", "host", "-action", "kick", "-reason", "x", "a"},                                  // kind
		{"add", "-kind", "user", "-action", "kick", "-reason", "x", "-for", "800h", "a@example.org"},      // too long
		{"add", "-kind", "user", "-action", "kick", "-reason", "x", "-for", "1h", "-until", "2030-01-01T00:00:00Z", "a@example.org"},
		{"add", "-kind", "user", "-action", "kick", "-reason", "x", "-until", "tomorrow", "a@example.org"}, // not a time
		{"add", "-kind", "user", "-action", "kick", "-reason", "x", "a@example.org", "b@example.org"},      // two subjects
		{"lift", "-reason", "x"},              // no id
		{"lift", netID},                       // no reason
		{"lift", "-reason", "x", "not-an-id"}, // malformed id
		{"list", "-state", "gone"}, {"list", "-kind", "host"}, {"list", "-action", "smite"},
		{"frobnicate"}, {},
	} {
		t.Run(strings.Join(bad, " "), func(t *testing.T) {
			out, err := run(bad...)
			if ExitCode(err) != ExitUsage {
				t.Errorf("decision %q: exit %d (%v), %q; want a usage error (2)", bad, ExitCode(err), err, out)
			}
		})
	}

	out, err = run("list")
	if err != nil || !strings.Contains(out, userID) || !strings.Contains(out, netID) || strings.Contains(out, obs.ID) {
		t.Errorf("list (active): %q, %v; want both added, not the observed one", out, err)
	}
	out, err = run("list", "-state", "observed")
	if err != nil || !strings.Contains(out, "would hold_mail") || !strings.Contains(out, "incident "+obs.IncidentID) {
		t.Errorf("list -state observed: %q, %v; want \"would hold_mail\" with its incident", out, err)
	}
	out, err = run("list", "-json", "-subject", "198.51.100.99")
	var vs []struct {
		decision.Decision
		State decision.State `json:"state"`
	}
	if err != nil || json.Unmarshal([]byte(out), &vs) != nil || len(vs) != 1 || vs[0].ID != netID || vs[0].State != decision.StateActive || vs[0].Delay != 3 {
		t.Errorf("list -json -subject 198.51.100.99: %q, %v", out, err)
	}

	if out, err := run("lift", "-reason", "customer called", userID); err != nil || !strings.Contains(out, "lifted "+userID) {
		t.Fatalf("lift: %q, %v", out, err)
	}
	d, err := store.Get(ctx, userID)
	if err != nil || !d.Lifted() || d.LiftReason != "customer called" || d.LiftedBy != actor() {
		t.Errorf("stored after the lift = %+v, %v", d, err)
	}
	if _, err := run("lift", "-reason", "again", userID); ExitCode(err) != ExitError || !strings.Contains(err.Error(), "lifted already by "+actor()) {
		t.Errorf("lift twice: exit %d, %v; want 1 and \"lifted already\"", ExitCode(err), err)
	}
	if _, err := run("lift", "-reason", "x", "0123456789abcdef0123456789abcdef"); ExitCode(err) != ExitError || !strings.Contains(err.Error(), "not found") {
		t.Errorf("lift unknown: exit %d, %v; want 1 and not found", ExitCode(err), err)
	}
	if out, err := run("list", "-state", "lifted"); err != nil || !strings.Contains(out, userID) {
		t.Errorf("list -state lifted: %q, %v", out, err)
	}

	// Every change is in the audit log, with the operator as the actor.
	ch, err := chstore.Open(ctx, chstore.Options{Addr: chAddr, Database: db}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	for action, want := range map[string]int{"decision_add": 2, "decision_lift": 1} {
		rows, _, err := ch.AuditLog(ctx, chstore.AuditFilter{Action: action, From: time.Now().Add(-time.Hour)})
		if err != nil || len(rows) != want {
			t.Errorf("audit rows of %s = %d, %v; want %d", action, len(rows), err, want)
			continue
		}
		for _, r := range rows {
			if r.Actor != actor() || r.After == "" {
				t.Errorf("audit row %+v: want actor %s and the record after", r, actor())
			}
		}
	}
}
