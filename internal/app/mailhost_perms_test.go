package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/quarantine"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// documentedPermissions returns the first fenced block under "## NATS permissions for the agent" in
// docs/quarantine.md: the NATS configuration the documentation gives operators.
func documentedPermissions(t *testing.T) string {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	data, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "..", "docs", "quarantine.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## NATS permissions for the agent\n")
	if !ok {
		t.Fatal("docs/quarantine.md has no section \"NATS permissions for the agent\"")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, block, ok := strings.Cut(section, "\n```\n")
	if !ok {
		t.Fatal("docs/quarantine.md: no fenced block in \"NATS permissions for the agent\"")
	}
	block, _, ok = strings.Cut(block, "\n```\n")
	if !ok {
		t.Fatal("docs/quarantine.md: the fenced block in \"NATS permissions for the agent\" does not end")
	}
	return block
}

// permissionErrors collects the permission violations the server reports to a connection.
type permissionErrors struct {
	mu   sync.Mutex
	errs []string
}

func (p *permissionErrors) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs = append(p.errs, err.Error())
}

func (p *permissionErrors) has(subject string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.errs {
		if strings.Contains(strings.ToLower(e), "permissions violation") && strings.Contains(e, `"`+subject+`"`) {
			return true
		}
	}
	return false
}

// TestMailhostWithDocumentedPermissions runs nats-server with the NATS configuration docs/quarantine.md gives
// (read from the file): the vigil mailhost agent, connected as the restricted user mailhost_mx1, releases a message
// a real Postfix holds on a command from the full vigil user; the restricted user is refused publishing an event,
// reading the decisions bucket, subscribing to another host's commands and to other clients' replies (_INBOX.>).
func TestMailhostWithDocumentedPermissions(t *testing.T) {
	const host = "mx1.example.net" // the documentation's example
	t.Setenv("VIGIL_NATS_PASSWORD", "vigil-secret")
	t.Setenv("MAILHOST_MX1_NATS_PASSWORD", "mx1-secret")
	ns := testenv.NATSConfig(t, documentedPermissions(t))
	addr := strings.TrimPrefix(ns.ClientURL(), "nats://")
	ctx := context.Background()

	// Vigil's side, as the auth API and ingest: the streams and buckets.
	vnc, err := nats.Connect("nats://vigil:vigil-secret@" + addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vnc.Close)
	js, err := natsbus.NewJetStream(vnc)
	if err != nil {
		t.Fatal(err)
	}
	if err := quarantine.EnsureStreams(ctx, js, 1); err != nil {
		t.Fatal(err)
	}
	events, err := natsbus.EnsureStream(ctx, js, natsbus.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decision.Open(ctx, js, decision.Options{}); err != nil {
		t.Fatal(err)
	}

	// A real Postfix holds every message (header_checks answer HOLD).
	users := map[string]string{"bob": "bob-pw"}
	mail := testenv.StartMail(t, testenv.MailOptions{Users: users, PostfixMainCF: "header_checks = static:HOLD"})
	queueID, err := testenv.Submit(mail.SubmissionAddr, "81.2.69.142", "bob", "bob-pw", []string{"carol@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, queueID+" in the hold queue", func() bool { return mail.Postfix.QueueOf(t, queueID) == "hold" })

	// vigil mailhost as the restricted user.
	env := map[string]string{"VIGIL_NATS_URL": "nats://mailhost_mx1:mx1-secret@" + addr, "VIGIL_MAILHOST_NAME": host,
		"VIGIL_MAILHOST_POSTFIX_CONFIG": mail.Postfix.ConfigDir}
	cfg, err := config.Load("vigil", nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("VIGIL_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	go func() { done <- RunMailhost(actx, cfg, logger, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunMailhost = %v", err)
		}
	})

	// The release command, as the auth API's quarantine manager sends it.
	sub, err := vnc.SubscribeSync(quarantine.ResultSubject(host))
	if err != nil {
		t.Fatal(err)
	}
	cmd, _ := json.Marshal(quarantine.Command{ID: "c1", Action: quarantine.ActionRelease, Host: host, QueueID: queueID, By: "root", At: time.Now().UTC()})
	if _, err := js.Publish(ctx, quarantine.CommandSubject(host), cmd, jetstream.WithMsgID("c1")); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.NextMsg(30 * time.Second)
	if err != nil {
		t.Fatalf("no result from the agent as mailhost_mx1: %v", err)
	}
	res, err := quarantine.DecodeResult(msg.Data)
	if err != nil || res.Outcome != quarantine.OutcomeReleased || res.CommandID != "c1" {
		t.Fatalf("result = %+v, %v; want c1 released", res, err)
	}
	if q := mail.Postfix.QueueOf(t, queueID); q == "hold" {
		t.Errorf("%s is still held after the release", queueID)
	}
	cs, err := js.Stream(ctx, quarantine.CommandStream)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "the command acknowledged (gone from the work queue)", func() bool {
		info, err := cs.Info(ctx)
		return err == nil && info.State.Msgs == 0
	})
	qs, err := js.Stream(ctx, quarantine.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := qs.Info(ctx); err != nil || info.State.Msgs != 1 {
		t.Errorf("VIGIL_QUARANTINE holds %v messages (%v); want the one result", info.State.Msgs, err)
	}

	// Outside its permissions, the same user is refused.
	perms := &permissionErrors{}
	mnc, err := nats.Connect("nats://mailhost_mx1:mx1-secret@"+addr, nats.ErrorHandler(perms.handler),
		nats.CustomInboxPrefix(quarantine.AgentInbox(host))) // as the agent's, so the refusals are the subjects', not the inbox's
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mnc.Close)
	mjs, err := natsbus.NewJetStream(mnc)
	if err != nil {
		t.Fatal(err)
	}
	eventSubject := natsbus.EventSubject(event.KindLogin, 0)
	if err := mnc.Publish(eventSubject, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	kctx, kcancel := context.WithTimeout(ctx, 2*time.Second)
	_, kerr := mjs.KeyValue(kctx, decision.DefaultBucket)
	kcancel()
	if kerr == nil {
		t.Error("mailhost_mx1 opened the decisions bucket; want it refused")
	}
	other := quarantine.CommandSubject("mx2.example.net")
	if _, err := mnc.SubscribeSync(other); err != nil {
		t.Fatal(err)
	}
	if _, err := mnc.SubscribeSync("_INBOX.>"); err != nil { // other clients' replies: the auth API's reads
		t.Fatal(err)
	}
	if err := mnc.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{eventSubject, "$JS.API.STREAM.INFO.KV_" + decision.DefaultBucket, other, "_INBOX.>"} {
		testenv.Eventually(t, 5*time.Second, "a permissions violation for "+s, func() bool { return perms.has(s) })
	}
	if info, err := events.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Errorf("VIGIL_EVENTS holds %v messages (%v); want none from mailhost_mx1", info.State.Msgs, err)
	}
}
