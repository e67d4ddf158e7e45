package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/quarantine"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// TestNodeQuarantine: in a running node, a hold_mail decision makes a real Postfix hold bob's message; the node's
// Postfix hook records it under VIGIL_MAILHOST_NAME and the node's auth API stores it in ClickHouse; vigil mailhost
// (RunMailhost, with the private Postfix's -c) carries out the release, the node stores the result, and Dovecot has
// the message.
func TestNodeQuarantine(t *testing.T) {
	const host, incidentID = "mx1.test", "cccccccccccccccccccccccccccccccc"
	pfAddr := freeAddr(t)
	cfg, _ := nodeConfig(t, map[string]string{"81.2.64.0/18": "GB"}, map[string]string{"VIGIL_POSTFIX_ADDR": pfAddr, "VIGIL_MAILHOST_NAME": host})
	node := &Node{Config: cfg, Logger: slog.New(slog.DiscardHandler), Out: &bytes.Buffer{}, IngestAddr: make(chan net.Addr, 1), NATSURL: make(chan string, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	var addr net.Addr
	var natsURL string
	select {
	case addr = <-node.IngestAddr:
		natsURL = <-node.NATSURL
	case err := <-done:
		t.Fatalf("node stopped: %v", err)
	}
	t.Cleanup(func() { cancel(); <-done })
	waitReady(t, "http://"+addr.String())

	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := decision.Open(ctx, js, decisionOptions(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ds.Put(ctx, decision.Decision{Kind: decision.User, Subject: "bob", Action: decision.HoldMail, IncidentID: incidentID,
		Rule: "send_volume", Reason: "held for review", CreatedBy: decision.System}); err != nil {
		t.Fatal(err)
	}
	users := map[string]string{"bob": "bob-pw", "carol@example.org": "carol-pw"}
	mail := testenv.StartMail(t, testenv.MailOptions{Users: users, Deliver: true, PostfixPolicy: pfAddr})
	store, err := chstore.Open(ctx, chstore.Options{Addr: cfg.ClickHouseAddr, Database: cfg.ClickHouseDatabase}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })

	// The node's index sees the decision within milliseconds; until then a message goes through (and is counted).
	var queueID string
	deadline := time.Now().Add(20 * time.Second)
	for queueID == "" {
		id, err := testenv.Submit(mail.SubmissionAddr, "81.2.69.142", "bob", "bob-pw", []string{"carol@example.org"})
		if err != nil {
			t.Fatal(err)
		}
		if inHold(t, mail.Postfix.ConfigDir, id) {
			queueID = id
		} else if time.Now().After(deadline) {
			t.Fatal("no message held after 20s")
		}
	}
	before := len(fetch(t, mail.IMAPAddr, users))
	row := waitHeld(t, store, incidentID, func(r chstore.HeldRow) bool { return r.QueueID == queueID && r.Status == chstore.HeldStatus })
	if row.Host != host || row.Sender != "bob@example.org" || row.Recipients != 1 || row.DecisionID == "" {
		t.Errorf("held row = %+v; want host %s, sender bob@example.org, 1 recipient, the decision", row, host)
	}

	agentEnv := map[string]string{"VIGIL_NATS_URL": natsURL, "VIGIL_MAILHOST_NAME": host, "VIGIL_MAILHOST_POSTFIX_CONFIG": mail.Postfix.ConfigDir}
	acfg, err := config.Load("vigil", nil, func(k string) string { return agentEnv[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(ctx)
	adone := make(chan error, 1)
	go func() { adone <- RunMailhost(actx, acfg, slog.New(slog.DiscardHandler), io.Discard) }()
	t.Cleanup(func() { acancel(); <-adone })

	// What the console's Release does (authapi.ActOnHeld → Manager.Request), on the node's NATS and ClickHouse.
	mgr := quarantine.NewManager(js, store, quarantine.ManagerOptions{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if _, err := mgr.Request(ctx, row, quarantine.ActionRelease, "root"); err != nil {
		t.Fatal(err)
	}
	waitHeld(t, store, incidentID, func(r chstore.HeldRow) bool { return r.QueueID == queueID && r.Status == chstore.HeldReleased })
	deadline = time.Now().Add(20 * time.Second)
	for len(fetch(t, mail.IMAPAddr, users)) != before+1 {
		if time.Now().After(deadline) {
			t.Fatalf("carol has %d messages 20s after the release; want %d", len(fetch(t, mail.IMAPAddr, users)), before+1)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if inHold(t, mail.Postfix.ConfigDir, queueID) {
		t.Error("the released message is still held")
	}
}

func inHold(t *testing.T, configDir, queueID string) bool {
	t.Helper()
	out, err := exec.Command("/usr/sbin/postqueue", "-c", configDir, "-j").Output()
	if err != nil {
		t.Fatalf("postqueue -j: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var m struct {
			Queue string `json:"queue_name"`
			ID    string `json:"queue_id"`
		}
		if json.Unmarshal([]byte(line), &m) == nil && m.ID == queueID {
			return m.Queue == "hold"
		}
	}
	return false
}

func fetch(t *testing.T, imap string, users map[string]string) []string {
	t.Helper()
	msgs, err := testenv.IMAPFetch(imap, "carol@example.org", users["carol@example.org"])
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func waitHeld(t *testing.T, store *chstore.Store, incidentID string, ok func(chstore.HeldRow) bool) chstore.HeldRow {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows, err := store.HeldOfIncident(context.Background(), incidentID)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if ok(r) {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("held rows of %s after 30s: %+v", incidentID, rows)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
