package maillog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/dovecot"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/postfix"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// tee records the events it forwards to the real publisher.
type tee struct {
	event.Sink
	mu  sync.Mutex
	evs []event.Event
}

func (t *tee) Publish(ctx context.Context, evs []event.Event) error {
	t.mu.Lock()
	t.evs = append(t.evs, evs...)
	t.mu.Unlock()
	return t.Sink.Publish(ctx, evs)
}

// allStored waits until the stream holds want messages and returns their events.
func allStored(t *testing.T, s jetstream.Stream, want uint64) []event.Event {
	t.Helper()
	return testenv.StoredEvents(t, s, want)
}

// waitLog waits until a server's log file holds a line with all the given parts.
func waitLog(t *testing.T, path string, parts ...string) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, fmt.Sprintf("a line with %q in %s", parts, path), func() bool {
		data, _ := os.ReadFile(path)
		for _, line := range strings.Split(string(data), "\n") {
			found := true
			for _, p := range parts {
				found = found && strings.Contains(line, p)
			}
			if found {
				return true
			}
		}
		return false
	})
}

// pwhash is Dovecot's %{hashed_password}: the first 12 bits of SHA-256(nonce, login, NUL, password), in hex.
func pwhash(nonce, login, password string) string {
	sum := sha256.Sum256([]byte(nonce + login + "\x00" + password))
	v := (uint16(sum[0])<<8 | uint16(sum[1])) >> 4
	return hex.EncodeToString([]byte{byte(v >> 8), byte(v)})
}

// TestRealServers points a real Dovecot and a real Postfix (Debian's packages, private instances on 127.0.0.1) at
// the policy endpoints, logs in and submits mail with real client sessions, and checks the events in JetStream;
// then it reads the servers' own log files and expects the same events with the same ids (nothing new stored);
// last, with the endpoints down, both servers keep serving and Dovecot's log still records the logins.
func TestRealServers(t *testing.T) {
	pub, _, stream := publisher(t, true)
	logger := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })

	dh, err := dovecot.New(dovecot.Options{Tokens: []string{"test-token"}}, pub, logger, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	policy := httptest.NewServer(dh)
	defer policy.Close()
	pctx, stopPostfixPolicy := context.WithCancel(ctx)
	wg.Add(2)
	go func() { defer wg.Done(); dh.Run(ctx) }()
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer wg.Done()
		postfix.New(postfix.Options{}, pub, logger, prometheus.NewRegistry()).Serve(pctx, pln)
	}()

	mail := testenv.StartMail(t, testenv.MailOptions{
		Users:         map[string]string{"alice": "alice-pw", "bob": "bob-pw"},
		PolicyURL:     policy.URL + "/v1/dovecot/policy",
		PolicyHeader:  "X-API-Key: test-token",
		PostfixPolicy: pln.Addr().String(),
	})

	// alice logs in from Great Britain; bob fails twice in one session from the United States.
	if err := testenv.IMAPLogin(mail.IMAPAddr, "81.2.69.142", "alice", "alice-pw"); err != nil {
		t.Fatalf("IMAP login: %v", err)
	}
	if err := testenv.IMAPLoginAttempts(mail.IMAPAddr, "8.8.8.8", "bob", "guess1", "guess2"); err == nil {
		t.Fatal("IMAP login with wrong passwords succeeded")
	}
	// bob submits a message to three recipients; alice's SMTP AUTH fails.
	queueID, err := testenv.Submit(mail.SubmissionAddr, "8.8.4.4", "bob", "bob-pw", []string{"x1@example.net", "x2@example.net", "x3@example.net"})
	if err != nil {
		t.Fatalf("submission: %v", err)
	}
	if _, err := testenv.Submit(mail.SubmissionAddr, "81.2.69.10", "alice", "wrong", []string{"x@example.net"}); err == nil {
		t.Fatal("submission with a wrong password succeeded")
	}

	// The policy endpoints: Dovecot reports the IMAP logins and the SMTP AUTHs it did for Postfix; Postfix the message.
	got := allStored(t, stream, 6)
	type key struct {
		User, Service, IP string
		Success           bool
		Recipients        int
	}
	want := map[key]int{
		{"alice", "imap", "81.2.69.142", true, 0}:  1,
		{"bob", "imap", "8.8.8.8", false, 0}:       2, // one per attempt
		{"bob", "smtp", "8.8.4.4", true, 0}:        1, // SMTP AUTH through Dovecot SASL
		{"bob", "submission", "8.8.4.4", false, 3}: 1,
		{"alice", "smtp", "81.2.69.10", false, 0}:  1,
	}
	have := map[key]int{}
	byID := map[string]event.Event{}
	for _, e := range got {
		have[key{e.User, e.Service, e.IP.String(), e.Success, e.Recipients}]++
		byID[e.ID] = e
		switch {
		case e.Kind == event.KindSend && (e.ID != "postfix:"+queueID || e.MessageID != queueID || e.Size == 0):
			t.Errorf("send event %+v; want id postfix:%s, message id %s and a size", e, queueID, queueID)
		case e.Kind == event.KindLogin && e.Service == "imap" && !strings.HasPrefix(e.ID, "dovecot:"+e.Session+":"):
			t.Errorf("IMAP login %+v; want an id from its session", e)
		case e.Kind == event.KindLogin && e.User == "alice" && e.Success && e.PWHash != pwhash(testenv.DovecotNonce, "alice", "alice-pw"):
			t.Errorf("alice's pwhash = %q; want %q", e.PWHash, pwhash(testenv.DovecotNonce, "alice", "alice-pw"))
		}
	}
	if !cmp.Equal(have, want) {
		t.Errorf("policy events by user, service, address, success, recipients:\n%v\nwant\n%v", have, want)
	}

	// The servers' log files give the same events with the same ids: nothing new is stored.
	waitLog(t, mail.DovecotLog, "auth failed, 2 attempts", "user=<bob>")
	waitLog(t, mail.PostfixLog, queueID+": from=", "nrcpt=3")
	waitLog(t, mail.PostfixLog, "authentication failed", "sasl_username=alice")
	rec := &tee{Sink: pub}
	p := NewParser("auto")
	p.SkipSMTPAuth = true // Dovecot's policy endpoint reported the failed SMTP AUTH
	r, err := NewReader(p, rec, Options{}, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Backfill(ctx, mail.DovecotLog, mail.PostfixLog); err != nil {
		t.Fatal(err)
	}
	if len(rec.evs) != 4 {
		t.Errorf("the log reader sent %d events %v; want 4 (alice's login, bob's two failures, bob's message)", len(rec.evs), rec.evs)
	}
	// Time, source and pwhash differ by nature; size too: the policy service sees the bytes the client sent, the
	// queue manager logs the queued size, with the headers Postfix added.
	ignore := cmpopts.IgnoreFields(event.Event{}, "Time", "Source", "PWHash", "Size")
	for _, e := range rec.evs {
		pe, ok := byID[e.ID]
		if !ok {
			t.Errorf("log event %+v has an id the policy endpoints did not send", e)
			continue
		}
		if diff := cmp.Diff(pe, e, ignore, cmpopts.EquateComparable(event.Event{}.IP)); diff != "" {
			t.Errorf("log event %s differs from the policy event (-policy +log):\n%s", e.ID, diff)
		}
		if e.Size < pe.Size {
			t.Errorf("log event %s has size %d, less than the %d bytes the client sent", e.ID, e.Size, pe.Size)
		}
		// Dovecot logs a failure after its delay (auth_failure_delay, then anvil's penalty for repeated failures from
		// one address, which doubles up to 15 s), so a failure's log line may trail its policy report by that much.
		if d := e.Time.Sub(pe.Time); d < -5*time.Second || d > 16*time.Second {
			t.Errorf("log event %s at %s, policy event at %s", e.ID, e.Time, pe.Time)
		}
	}
	allStored(t, stream, 6)

	// Reading Postfix's failed SMTP AUTH line as well adds one event: the documented double count when both paths
	// see it (hence -smtp-auth=false with Dovecot SASL and the Dovecot policy endpoint).
	r2, _ := NewReader(NewParser("postfix"), pub, Options{}, logger)
	if err := r2.Backfill(ctx, mail.PostfixLog); err != nil {
		t.Fatal(err)
	}
	allStored(t, stream, 7)

	// With both policy endpoints down, Dovecot logs users in and Postfix accepts mail; Dovecot's log keeps the login.
	policy.Close()
	stopPostfixPolicy()
	start := time.Now()
	if err := testenv.IMAPLogin(mail.IMAPAddr, "81.2.69.142", "alice", "alice-pw"); err != nil {
		t.Errorf("IMAP login with the policy endpoint down: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("IMAP login with the policy endpoint down took %s", d)
	}
	if _, err := testenv.Submit(mail.SubmissionAddr, "8.8.4.4", "bob", "bob-pw", []string{"y@example.net"}); err != nil {
		t.Errorf("submission with the policy endpoint down: %v", err)
	}
	waitLog(t, mail.DovecotLog, "Login: user=<alice>")
	r3, _ := NewReader(NewParser("dovecot"), pub, Options{}, logger)
	if err := r3.Backfill(ctx, mail.DovecotLog); err != nil {
		t.Fatal(err)
	}
	allStored(t, stream, 8) // the login the endpoint missed, from the log
}
