package respond_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/respond"
	"github.com/vigil-ids/vigil/internal/testenv"
)

const doveadmKey = "vigil-test-doveadm-key"

func TestDoveadmKickClosesALiveSession(t *testing.T) {
	dc := testenv.StartDovecot(t, testenv.DovecotOptions{Users: map[string]string{"victim@example.org": "pw1", "bystander@example.org": "pw2"},
		DoveadmAPIKey: doveadmKey})
	victim, err := testenv.OpenIMAPSession(dc.IMAPAddr, "203.0.113.50", "victim@example.org", "pw1")
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	bystander, err := testenv.OpenIMAPSession(dc.IMAPAddr, "203.0.113.51", "bystander@example.org", "pw2")
	if err != nil {
		t.Fatal(err)
	}
	defer bystander.Close()

	h := setup(t)
	k, err := respond.NewDoveadm(dc.DoveadmURL, doveadmKey+"\n")
	if err != nil {
		t.Fatal(err)
	}
	h.kicker = k
	h.start(enforceAll)
	h.publish(addrIncident("password_spray", "198.51.100.0/24", 1, now.Add(-time.Hour), "victim@example.org"))
	if err := victim.WaitClosed(10 * time.Second); err != nil {
		t.Fatalf("victim's IMAP session after the kick decision: %v (dovecot log: %s)", err, tail(dc.LogPath))
	}
	testenv.Eventually(t, 5*time.Second, "the kick counted", func() bool { return h.metric("vigil_responder_kicks_total", "result=ok") == 1 })
	if r, err := bystander.Command("NOOP"); err != nil || !strings.HasPrefix(r, "OK") {
		t.Errorf("the bystander's session: NOOP = %q, %v; want it untouched", r, err)
	}
}

func TestKickFailureDoesNotBlockTheDecision(t *testing.T) {
	dc := testenv.StartDovecot(t, testenv.DovecotOptions{Users: map[string]string{"victim@example.org": "pw1"}, DoveadmAPIKey: doveadmKey})
	h := setup(t)
	k, err := respond.NewDoveadm(dc.DoveadmURL, "the-wrong-key")
	if err != nil {
		t.Fatal(err)
	}
	h.kicker = k
	h.start(enforceAll)
	h.publish(addrIncident("password_spray", "198.51.100.0/24", 1, now.Add(-time.Hour), "victim@example.org"))
	h.waitDrained()
	testenv.Eventually(t, 15*time.Second, "the failed kick counted", func() bool { return h.metric("vigil_responder_kicks_total", "result=failed") == 1 })
	if got := len(h.decisions(func(d decision.Decision) bool { return d.Subject == "victim@example.org" })); got != 2 {
		t.Errorf("victim has %d decisions; want block_login and kick stored despite the failed kick", got)
	}
}

func TestDoveadmRejectsBadConfiguration(t *testing.T) {
	for _, tt := range []struct{ url, key string }{
		{"ftp://host:1", "k"}, {"http://user:pw@host:1", "k"}, {"http://host:1/?x=1", "k"}, {"http://host:1", ""}, {"http://host:1", "a b"},
	} {
		if _, err := respond.NewDoveadm(tt.url, tt.key); err == nil {
			t.Errorf("NewDoveadm(%q, %q) = nil; want an error", tt.url, tt.key)
		}
	}
}

// tail returns the end of a log file, for a failure message.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
