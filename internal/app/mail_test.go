package app

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/maillog"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// TestRealMailServers points a real Dovecot and a real Postfix at a running node, logs in and sends mail with
// ordinary client sessions, and follows the events to ClickHouse rows and incidents; then it reads the same
// servers' log files and expects no duplicates, and checks both servers keep working with Vigil stopped.
func TestRealMailServers(t *testing.T) {
	pfPort := freeAddr(t)
	cfg, _ := nodeConfig(t, map[string]string{"81.2.64.0/18": "GB", "8.8.8.0/24": "US"}, map[string]string{"VIGIL_FLUSH_INTERVAL": "100ms", "VIGIL_RULE_SEND_VOLUME": "3", "VIGIL_DOVECOT_TOKENS": "dovecot-test-token", "VIGIL_POSTFIX_ADDR": pfPort})
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
	stopNode := func() {
		if cancel != nil {
			cancel()
			<-done
			cancel = nil
		}
	}
	t.Cleanup(stopNode)
	waitReady(t, "http://"+addr.String())

	mail := testenv.StartMail(t, testenv.MailOptions{
		Users:         map[string]string{"alice": "alice-pw", "bob": "bob-pw"},
		PolicyURL:     "http://" + addr.String() + "/v1/dovecot/policy",
		PolicyHeader:  "X-API-Key: dovecot-test-token",
		PostfixPolicy: pfPort,
	})
	// alice logs in from Great Britain, then from the United States.
	for _, ip := range []string{"81.2.69.142", "8.8.8.8"} {
		if err := testenv.IMAPLogin(mail.IMAPAddr, ip, "alice", "alice-pw"); err != nil {
			t.Fatalf("IMAP login from %s: %v", ip, err)
		}
	}
	if err := testenv.IMAPLogin(mail.IMAPAddr, "81.2.69.10", "bob", "wrong"); err == nil {
		t.Fatal("IMAP login with a wrong password succeeded")
	}
	// A failed SMTP AUTH: Postfix asks Dovecot SASL, whose policy endpoint reports it; Postfix logs it too.
	if _, err := testenv.Submit(mail.SubmissionAddr, "81.2.69.20", "bob", "wrong", []string{"x@example.net"}); err == nil {
		t.Fatal("SMTP AUTH with a wrong password succeeded")
	}
	// bob submits three messages (3, 2 and 1 recipients): the send_volume threshold is 3.
	var queueIDs []string
	for i, n := range []int{3, 2, 1} {
		rcpts := []string{"x1@example.net", "x2@example.net", "x3@example.net"}[:n]
		q, err := testenv.Submit(mail.SubmissionAddr, "8.8.4.4", "bob", "bob-pw", rcpts)
		if err != nil {
			t.Fatalf("submission %d: %v", i, err)
		}
		queueIDs = append(queueIDs, q)
	}

	store, err := chstore.Open(context.Background(), chstore.Options{Addr: cfg.ClickHouseAddr, Database: cfg.ClickHouseDatabase}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	count := func(q string) uint64 {
		var n uint64
		if err := store.Conn().QueryRow(context.Background(), q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	waitCount := func(want uint64, q string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for count(q) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s = %d after 30s; want %d", q, count(q), want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitCount(1, "SELECT count() FROM incidents FINAL WHERE rule = 'multi_country' AND user = 'alice' AND countries = ['GB', 'US']")
	waitCount(1, "SELECT count() FROM logins FINAL WHERE user = 'bob' AND success = 0 AND service = 'imap'")
	waitCount(3, "SELECT count() FROM sends FINAL WHERE user = 'bob'")
	const smtpFailures = "SELECT count() FROM logins FINAL WHERE user = 'bob' AND success = 0 AND service = 'smtp'"
	waitCount(1, smtpFailures)
	waitCount(1, "SELECT count() FROM sends FINAL WHERE user = 'bob' AND recipients = 3 AND message_id = '"+queueIDs[0]+"'")
	waitCount(1, "SELECT count() FROM incidents FINAL WHERE rule = 'send_volume' AND user = 'bob' AND messages_24h = 3")
	logins := count("SELECT count() FROM logins FINAL")
	sends := count("SELECT count() FROM sends FINAL")

	// The same sessions read from the servers' log files add nothing: the ids match the policy endpoints'.
	ns, err := natsbus.Connect(natsURL, "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	js, _ := natsbus.NewJetStream(ns)
	files := maillog.Files{Paths: []string{mail.DovecotLog, mail.PostfixLog}, Format: "auto", Loc: time.Local, SkipSMTPAuth: len(cfg.DovecotTokens) > 0}
	sum, err := maillog.Read(context.Background(), natsbus.NewPublisher(js, cfg.Partitions, nil), files, maillog.Options{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	out := sum.String()
	t.Logf("%s", out)
	if !strings.Contains(out, "events sent") || strings.Contains(out, " 0 events sent") {
		t.Errorf("ingest-log summary = %q", out)
	}
	testenv.WaitDrained(t, js, natsbus.DefaultStream, "vigil-detector-") // whatever the log added is committed
	waitCount(logins, "SELECT count() FROM logins FINAL")
	if n := count(smtpFailures); n != 1 {
		t.Errorf("bob's failed SMTP AUTH after reading the log = %d rows; want 1 (Dovecot already reported it)", n)
	}
	waitCount(sends, "SELECT count() FROM sends FINAL")
	if n := count("SELECT count() FROM logins FINAL WHERE user = 'alice' AND success = 1"); n != 2 {
		t.Errorf("alice's successful logins after reading the log = %d; want 2", n)
	}

	// With Vigil stopped, Dovecot still logs users in.
	stopNode()
	if err := testenv.IMAPLogin(mail.IMAPAddr, "81.2.69.142", "alice", "alice-pw"); err != nil {
		t.Errorf("login with Vigil stopped: %v", err)
	}
	// And Postfix still accepts mail (default_action=DUNNO in deploy/postfix/main.cf.snippet).
	if _, err := testenv.Submit(mail.SubmissionAddr, "8.8.4.4", "bob", "bob-pw", []string{"x@example.net"}); err != nil {
		t.Errorf("submission with Vigil stopped: %v", err)
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestNodeSaysMailEndpointsOff starts a node without VIGIL_DOVECOT_TOKENS and VIGIL_POSTFIX_ADDR and expects it to
// say, per endpoint, that it is off and which variable switches it on.
func TestNodeSaysMailEndpointsOff(t *testing.T) {
	cfg, _ := nodeConfig(t, map[string]string{"81.2.64.0/18": "GB"}, map[string]string{})
	var out bytes.Buffer
	node := &Node{Config: cfg, Logger: slog.New(slog.DiscardHandler), Out: &out, IngestAddr: make(chan net.Addr, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	select {
	case <-node.IngestAddr: // sent after the start-up messages
	case err := <-done:
		t.Fatalf("node stopped: %v", err)
	}
	said := out.String()
	cancel()
	<-done
	for _, want := range []string{"Dovecot auth policy endpoint off: set VIGIL_DOVECOT_TOKENS", "Postfix policy service off: set VIGIL_POSTFIX_ADDR"} {
		if !strings.Contains(said, want) {
			t.Errorf("start-up messages lack %q:\n%s", want, said)
		}
	}
}
