package quarantine

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/postfix"
	"github.com/vigil-ids/vigil/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	incidentA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	incidentB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	mailHost  = "mx1.test"
)

func logger() *slog.Logger {
	if os.Getenv("VIGIL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// run starts a component and stops it when the test ends (or when the returned stop is called).
func run(t *testing.T, f func(context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run = %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 30s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%s: %s", time.Now().Format("15:04:05.000"), what)
}

type auditLog struct {
	mu      sync.Mutex
	entries []string
}

func (a *auditLog) add(action, actor, target, result, detail string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, action+" "+actor+" "+target+" "+result)
}

func (a *auditLog) has(entry string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range a.entries {
		if e == entry {
			return true
		}
	}
	return false
}

// TestReleaseAndDeleteWithRealPostfix: Vigil's Postfix policy server answers HOLD for two users under hold_mail
// decisions, so a real Postfix holds their messages (postqueue -j: "queue_name": "hold"); the policy server's hook
// records them through JetStream into ClickHouse; the agent releases one, which Dovecot then has in the
// recipient's mailbox, and deletes the other, which leaves the queue. The commands are sent while no agent runs,
// and the second after an agent restart: they wait in the durable consumer.
func TestReleaseAndDeleteWithRealPostfix(t *testing.T) {
	ctx := context.Background()
	js, err := natsbus.NewJetStream(testenv.Connect(t, testenv.NATS(t)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := natsbus.EnsureStream(ctx, js, natsbus.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	ds, err := decision.Open(ctx, js, decision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	index := decision.NewIndex(ds, logger(), prometheus.NewRegistry())
	run(t, index.Run)
	<-index.Ready()
	for user, inc := range map[string]string{"bob": incidentA, "dave": incidentB} {
		if _, _, err := ds.Put(ctx, decision.Decision{Kind: decision.User, Subject: user, Action: decision.HoldMail, IncidentID: inc,
			Rule: "send_volume", Reason: "held for review", CreatedBy: decision.System}); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the index holding "+user+"'s mail", func() bool {
			_, ok := index.Match(user, netip.Addr{}, time.Now(), decision.HoldMail)
			return ok
		})
	}
	rec := NewRecorder(js, 16, logger(), prometheus.NewRegistry())
	run(t, rec.Run)
	reg := prometheus.NewRegistry()
	policy := postfix.New(postfix.Options{Decisions: index, Held: PostfixHook{Recorder: rec, Host: mailHost}}, natsbus.NewPublisher(js, 4, reg), logger(), reg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	run(t, func(ctx context.Context) error { return policy.Serve(ctx, ln) })

	users := map[string]string{"bob": "bob-pw", "dave": "dave-pw", "carol@example.org": "carol-pw"}
	mail := testenv.StartMail(t, testenv.MailOptions{Users: users, Deliver: true, PostfixPolicy: ln.Addr().String()})
	addr, db := testenv.ClickHouseDB(t)
	store, err := chstore.Open(ctx, chstore.Options{Addr: addr, Database: db}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	var ids []string
	for _, user := range []string{"bob", "dave"} {
		id, err := testenv.Submit(mail.SubmissionAddr, "81.2.69.142", user, users[user], []string{"carol@example.org"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		waitUntil(t, id+" in the hold queue", func() bool { return mail.Postfix.QueueOf(t, id) == "hold" })
	}

	audits := &auditLog{}
	mgr := NewManager(js, store, ManagerOptions{Audit: audits.add}, logger(), prometheus.NewRegistry())
	run(t, mgr.Run)
	rec.Held(ctx, HeldMessage{Host: mailHost, QueueID: ids[0], Sender: "bob@example.org", User: "bob", Recipients: 1, Size: 1, Time: time.Now(),
		IncidentID: incidentA}) // a repeat: stored once
	held := func(incident string) chstore.HeldRow {
		t.Helper()
		rows, err := mgr.Held(ctx, incident)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 {
			return chstore.HeldRow{}
		}
		return rows[0]
	}
	waitUntil(t, "both held records in ClickHouse", func() bool {
		return held(incidentA).Status == chstore.HeldStatus && held(incidentB).Status == chstore.HeldStatus
	})
	if r := held(incidentA); r.QueueID != ids[0] || r.Sender != "bob@example.org" || r.User != "bob" || r.Recipients != 1 || r.Size < 20 || r.Host != mailHost || r.DecisionID == "" {
		t.Errorf("held record = %+v; want queue id %s, sender bob@example.org, user bob, 1 recipient, the message size (about 24), host %s, the decision", r, ids[0], mailHost)
	}
	if info, err := js.Stream(ctx, Stream); err != nil || info.CachedInfo().State.Msgs != 2 {
		t.Errorf("quarantine stream holds %v messages (%v); want 2 (the repeats are deduplicated)", info.CachedInfo().State.Msgs, err)
	}

	// The resolution as a false positive releases incident A's message; the agent is not running yet.
	if err := mgr.ReleaseIncident(ctx, incidentA, "responder"); err != nil {
		t.Fatal(err)
	}
	if s := held(incidentA).Status; s != chstore.HeldReleaseRequested {
		t.Errorf("status after ReleaseIncident = %s; want release_requested", s)
	}
	pf := Postfix{ConfigDir: mail.Postfix.ConfigDir}
	agentReg := prometheus.NewRegistry()
	agent, err := NewAgent(js, AgentOptions{Host: mailHost, Postfix: pf}, logger(), agentReg)
	if err != nil {
		t.Fatal(err)
	}
	stopAgent := run(t, agent.Run)
	waitUntil(t, "the release in ClickHouse", func() bool { return held(incidentA).Status == chstore.HeldReleased })
	waitUntil(t, "the released message in carol's mailbox", func() bool {
		msgs, err := testenv.IMAPFetch(mail.IMAPAddr, "carol@example.org", "carol-pw")
		return err == nil && len(msgs) == 1 && strings.Contains(msgs[0], "Subject: test")
	})
	if q := mail.Postfix.QueueOf(t, ids[1]); q != "hold" {
		t.Fatalf("the other message is in queue %q; want hold", q)
	}

	// Delete incident B's message across an agent restart.
	stopAgent()
	row := held(incidentB)
	if _, err := mgr.Request(ctx, row, ActionDelete, "root"); err != nil {
		t.Fatal(err)
	}
	agent2, err := NewAgent(js, AgentOptions{Host: mailHost, Postfix: pf}, logger(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	run(t, agent2.Run)
	waitUntil(t, "the deletion in ClickHouse", func() bool { return held(incidentB).Status == chstore.HeldDeleted })
	if q := mail.Postfix.QueueOf(t, ids[1]); q != "" {
		t.Errorf("deleted message is in queue %q; want none", q)
	}
	if r := held(incidentB); r.Actor != "root" || r.Detail != "" {
		t.Errorf("deleted row = %+v; want actor root, no detail", r)
	}
	if _, err := mgr.Request(ctx, held(incidentB), ActionRelease, "root"); !errors.Is(err, ErrFinal) {
		t.Errorf("release of a deleted message = %v; want ErrFinal", err)
	}
	for _, e := range []string{"held_release responder " + mailHost + "/" + ids[0] + " success", "held_release_result mailhost:" + mailHost + " " + mailHost + "/" + ids[0] + " success",
		"held_delete_result mailhost:" + mailHost + " " + mailHost + "/" + ids[1] + " success"} {
		if !audits.has(e) {
			t.Errorf("audit log lacks %q: %q", e, audits.entries)
		}
	}
	if n := testutil.ToFloat64(agent.runs.WithLabelValues(ActionRelease, OutcomeReleased)); n != 1 {
		t.Errorf("first agent's released count = %v; want 1", n)
	}
	msgs, _ := testenv.IMAPFetch(mail.IMAPAddr, "carol@example.org", "carol-pw")
	if len(msgs) != 1 {
		t.Errorf("carol has %d messages; want 1 (the deleted one never delivered)", len(msgs))
	}
}

// sentinelTools returns postqueue and postsuper stand-ins that only record that they ran.
func sentinelTools(t *testing.T) (Postfix, string) {
	t.Helper()
	dir := t.TempDir()
	mark := filepath.Join(dir, "ran")
	for _, name := range []string{"postqueue", "postsuper"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\necho \"$0 $*\" >> "+mark+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return Postfix{Postqueue: filepath.Join(dir, "postqueue"), Postsuper: filepath.Join(dir, "postsuper")}, mark
}

// TestBadQueueIDRunsNothing: a command with an invalid queue id gets a precise error and never reaches a tool, both
// through Execute and as a message on the command subject (which is terminated, not retried).
func TestBadQueueIDRunsNothing(t *testing.T) {
	pf, mark := sentinelTools(t)
	js, err := natsbus.NewJetStream(testenv.Connect(t, testenv.NATS(t)))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	a, err := NewAgent(js, AgentOptions{Host: mailHost, Postfix: pf}, logger(), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, id := range []string{"ALL", "-d ALL", "E3F44D031A hold", "../../x", "e3f44d031a"} {
		res := a.Execute(ctx, Command{ID: "c1", Action: ActionDelete, Host: mailHost, QueueID: id, By: "root", At: at})
		if res.Outcome != OutcomeFailed || !strings.Contains(res.Error, "invalid queue id") {
			t.Errorf("Execute(queue id %q) = %+v; want failed with an invalid queue id error", id, res)
		}
	}
	run(t, a.Run)
	waitUntil(t, "the command stream", func() bool { _, err := js.Stream(ctx, CommandStream); return err == nil })
	for _, body := range []string{
		`{"id":"c2","action":"delete","host":"mx1.test","queue_id":"ALL","by":"root","at":"2026-12-02T05:00:00Z"}`,
		`{"id":"c3","action":"delete","host":"mx1.test","queue_id":"E3F44D031A","by":"root","at":"2026-12-02T05:00:00Z","args":["-d","ALL"]}`,
		`{"id":"c4","action":"delete","host":"mx2.test","queue_id":"E3F44D031A","by":"root","at":"2026-12-02T05:00:00Z"}`,
	} {
		if _, err := js.Publish(ctx, CommandSubject(mailHost), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "three refused commands", func() bool { return testutil.ToFloat64(a.runs.WithLabelValues("unknown", "invalid")) == 3 })
	if b, err := os.ReadFile(mark); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a tool ran: %q, %v", b, err)
	}
	s, _ := js.Stream(ctx, CommandStream)
	waitUntil(t, "the refused commands gone from the work queue", func() bool {
		info, err := s.Info(ctx)
		return err == nil && info.State.Msgs == 0
	})
}

// TestNotHeldIsReportedNotRun: a valid id that postqueue does not list as held is reported not_held and postsuper
// does not run.
func TestNotHeldIsReportedNotRun(t *testing.T) {
	pf, mark := sentinelTools(t)
	js, err := natsbus.NewJetStream(testenv.Connect(t, testenv.NATS(t)))
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAgent(js, AgentOptions{Host: mailHost, Postfix: pf}, logger(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	res := a.Execute(context.Background(), Command{ID: "c1", Action: ActionRelease, Host: mailHost, QueueID: "E3F44D031A", By: "root", At: at})
	if res.Outcome != OutcomeNotHeld || res.Queue != "" || res.Error != "" {
		t.Errorf("Execute = %+v; want not_held, no queue", res)
	}
	b, _ := os.ReadFile(mark)
	if got := strings.TrimSpace(string(b)); !strings.HasSuffix(got, "postqueue -j") || strings.Contains(got, "postsuper") {
		t.Errorf("tools run: %q; want postqueue -j alone", got)
	}
}

// TestSudoArguments: with Sudo set, postsuper runs as "sudo -n -- postsuper -c DIR -H ID" (what a sudoers rule for
// an unprivileged agent names), and postqueue runs directly.
func TestSudoArguments(t *testing.T) {
	pf, mark := sentinelTools(t)
	dir := filepath.Dir(mark)
	// postqueue lists the message as held, whatever it is asked
	if err := os.WriteFile(pf.Postqueue, []byte("#!/bin/sh\necho \"postqueue $*\" >> "+mark+"\necho '{\"queue_name\": \"hold\", \"queue_id\": \"E3F44D031A\"}'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	pf.Sudo = filepath.Join(dir, "sudo")
	if err := os.WriteFile(pf.Sudo, []byte("#!/bin/sh\necho \"sudo $*\" >> "+mark+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	pf.ConfigDir = "/etc/postfix-out"
	if err := pf.Delete(context.Background(), "E3F44D031A"); err != nil {
		t.Fatal(err)
	}
	if err := pf.Release(context.Background(), "E3F44D031A"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(mark)
	want := "sudo -n -- " + pf.Postsuper + " -c /etc/postfix-out -d E3F44D031A hold\n" +
		"sudo -n -- " + pf.Postsuper + " -c /etc/postfix-out -H E3F44D031A\n" +
		"postqueue -c /etc/postfix-out -i E3F44D031A\n"
	if string(b) != want {
		t.Errorf("tools ran:\n%s\nwant:\n%s", b, want)
	}
}
