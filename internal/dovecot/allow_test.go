package dovecot

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-ids/vigil/internal/decision"
)

// decisions opens the decisions bucket on a fresh in-process NATS and returns the store and an index over it,
// running and loaded when run.
func decisions(t testing.TB, run bool) (*decision.Store, *decision.Index) {
	t.Helper()
	js, _ := jetStream(t, false)
	return decisionsIn(t, js, "", run)
}

// decisionsIn opens a decision store in bucket of js ("": the default bucket) and returns it and an index over it,
// running and loaded when run.
func decisionsIn(t testing.TB, js jetstream.JetStream, bucket string, run bool) (*decision.Store, *decision.Index) {
	t.Helper()
	s, err := decision.Open(context.Background(), js, decision.Options{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	x := decision.NewIndex(s, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if run {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- x.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		<-x.Ready()
	}
	return s, x
}

func put(t testing.TB, s *decision.Store, d decision.Decision) decision.Decision {
	t.Helper()
	if d.CreatedBy == "" {
		d.CreatedBy = decision.System
	}
	d, _, err := s.Put(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// waitMatch polls the index until cond holds (a put reaches the index through the KV watch).
func waitMatch(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("the index did not see the decision within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func allowBody(login, remote string) string {
	return `{"device_id":"","login":"` + login + `","protocol":"imap","pwhash":"0abc","remote":"` + remote + `","session_id":"f9oNkvZgMr5/AAAB","tls":false}`
}

func smtpBody(login, remote string) string {
	return `{"login":"` + login + `","protocol":"smtp","pwhash":"0abc","remote":"` + remote + `","session_id":"","tls":false}`
}

func TestAllowAnswersFromDecisions(t *testing.T) {
	s, x := decisions(t, true)
	h, srv := serve(t, Options{Decisions: x, BlockMessage: "Blocked by the provider"}, nil, false)
	put(t, s, decision.Decision{Kind: decision.User, Subject: "alice@example.org", Action: decision.BlockLogin, Reason: `account "taken over": logins from GB and US`})
	put(t, s, decision.Decision{Kind: decision.User, Subject: "carol@example.org", Action: decision.BlockLogin})
	put(t, s, decision.Decision{Kind: decision.User, Subject: "dave@example.org", Action: decision.HoldMail, Reason: "sending spam"})
	put(t, s, decision.Decision{Kind: decision.User, Subject: "erin@example.org", Action: decision.BlockLogin, Observe: true})
	put(t, s, decision.Decision{Kind: decision.User, Subject: "gina@example.org", Action: decision.BlockLogin, Reason: "locked"})
	put(t, s, decision.Decision{Kind: decision.User, Subject: "gina@example.org", Action: decision.HoldMail})
	put(t, s, decision.Decision{Kind: decision.Network, Subject: "198.51.100.0/24", Action: decision.Tarpit, Delay: 4, Reason: "spraying"})
	put(t, s, decision.Decision{Kind: decision.Network, Subject: "198.51.100.7", Action: decision.BlockLogin, Reason: "brute force from this address"})
	lifted := put(t, s, decision.Decision{Kind: decision.User, Subject: "frank@example.org", Action: decision.BlockLogin})
	if _, err := s.Lift(context.Background(), lifted.ID, "root", "false positive"); err != nil {
		t.Fatal(err)
	}
	waitMatch(t, func() bool {
		_, ok := x.Match("", netip.MustParseAddr("198.51.100.7"), time.Now(), decision.BlockLogin)
		_, lift := x.Match("frank@example.org", netip.Addr{}, time.Now(), decision.BlockLogin)
		return ok && !lift
	})
	for _, tt := range []struct {
		name, body, want, verdict string
	}{
		{"blocked user", allowBody("Alice@Example.org", "81.2.69.142"), `{"status":-1,"msg":"account \"taken over\": logins from GB and US"}`, verdictBlock},
		{"blocked user, default message", allowBody("carol@example.org", "81.2.69.142"), `{"status":-1,"msg":"Blocked by the provider"}`, verdictBlock},
		{"hold_mail does not block logins", allowBody("dave@example.org", "81.2.69.142"), `{"status":0}`, verdictAllow},
		{"observe-mode decision", allowBody("erin@example.org", "81.2.69.142"), `{"status":0}`, verdictAllow},
		{"lifted decision", allowBody("frank@example.org", "81.2.69.142"), `{"status":0}`, verdictAllow},
		{"blocked address beats the /24 tarpit", allowBody("bob@example.org", "198.51.100.7"), `{"status":-1,"msg":"brute force from this address"}`, verdictBlock},
		{"tarpitted network", allowBody("bob@example.org", "198.51.100.8"), `{"status":4}`, verdictTarpit},
		{"mapped address in a tarpitted network", allowBody("bob@example.org", "::ffff:198.51.100.9"), `{"status":4}`, verdictTarpit},
		{"blocked and held user, IMAP", allowBody("gina@example.org", "81.2.69.142"), `{"status":-1,"msg":"locked"}`, verdictBlock},
		{"blocked and held user, SMTP AUTH: its mail is held instead", smtpBody("gina@example.org", "81.2.69.142"), `{"status":0}`, verdictAllow},
		{"blocked and held user, SMTP AUTH from a blocked address", smtpBody("gina@example.org", "198.51.100.7"), `{"status":-1,"msg":"brute force from this address"}`, verdictBlock},
		{"blocked user without a hold, SMTP AUTH", smtpBody("alice@example.org", "81.2.69.142"), `{"status":-1,"msg":"account \"taken over\": logins from GB and US"}`, verdictBlock},
		{"nobody", allowBody("bob@example.org", "81.2.69.142"), `{"status":0}`, verdictAllow},
		{"no login yet", `{"remote":"198.51.100.8"}`, `{"status":4}`, verdictTarpit},
		{"not json", "{", `{"status":0}`, verdictUnreadable},
		{"login a number", `{"login":1,"remote":"198.51.100.7"}`, `{"status":0}`, verdictUnreadable},
		{"login with a space", allowBody("alice@example.org x", "198.51.100.7"), `{"status":0}`, verdictUnreadable},
		{"remote not an address", allowBody("alice@example.org", "here"), `{"status":0}`, verdictUnreadable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := testutil.ToFloat64(h.m.verdicts.WithLabelValues(tt.verdict))
			code, got := post(t, srv.URL, "allow", tt.body, token)
			if code != 200 || got != tt.want {
				t.Errorf("allow %s = %d %s; want 200 %s", tt.body, code, got, tt.want)
			}
			if n := testutil.ToFloat64(h.m.verdicts.WithLabelValues(tt.verdict)) - before; n != 1 {
				t.Errorf("verdicts_total{verdict=%q} grew by %v; want 1", tt.verdict, n)
			}
		})
	}
	// A body over the size limit is not read: allowed, answered 400.
	if code, got := post(t, srv.URL, "allow", `{"login":"alice@example.org","x":"`+strings.Repeat("a", 70<<10)+`"}`, token); code != 400 || got != `{"status":0}` {
		t.Errorf("oversized allow = %d %s; want 400 {\"status\":0}", code, got)
	}
}

// Until the index has loaded the bucket, every login is allowed: an empty index would allow anyway, but a known
// decision must not be half-applied either, so the endpoint says why (verdict not_ready).
func TestAllowBeforeTheIndexIsReady(t *testing.T) {
	s, x := decisions(t, false) // never run: never ready
	put(t, s, decision.Decision{Kind: decision.User, Subject: "alice@example.org", Action: decision.BlockLogin})
	h, srv := serve(t, Options{Decisions: x}, nil, false)
	if code, got := post(t, srv.URL, "allow", allowBody("alice@example.org", "81.2.69.142"), token); code != 200 || got != `{"status":0}` {
		t.Errorf("allow before ready = %d %s; want 200 {\"status\":0}", code, got)
	}
	if n := testutil.ToFloat64(h.m.verdicts.WithLabelValues(verdictNotReady)); n != 1 {
		t.Errorf("verdicts_total{not_ready} = %v; want 1", n)
	}
}

// Without an index the endpoint only observes, as before enforcement existed.
func TestAllowWithoutDecisionsObserves(t *testing.T) {
	h, srv := serve(t, Options{}, nil, false)
	if code, got := post(t, srv.URL, "allow", allowBody("alice@example.org", "81.2.69.142"), token); code != 200 || got != `{"status":0}` {
		t.Errorf("allow = %d %s; want 200 {\"status\":0}", code, got)
	}
	if n := testutil.ToFloat64(h.m.verdicts.WithLabelValues(verdictObserve)); n != 1 {
		t.Errorf("verdicts_total{observe} = %v; want 1", n)
	}
}

func TestParseAllow(t *testing.T) {
	for _, tt := range []struct {
		body  string
		login string
		ip    string
		err   bool
	}{
		{allowBody("Alice", "81.2.69.142"), "alice", "81.2.69.142", false},
		{`{"login":"","remote":""}`, "", "invalid IP", false},
		{`{}`, "", "invalid IP", false},
		{`{"login":"a","remote":"::ffff:1.2.3.4","extra":{"x":[1]}}`, "a", "1.2.3.4", false},
		{`{"login":"a\u0000b"}`, "", "", true},
		{`{"login":"` + strings.Repeat("a", 321) + `"}`, "", "", true},
		{`{"remote":"fe80::1%eth0"}`, "", "", true},
		{`{"remote":5}`, "", "", true},
		{`[]`, "", "", true},
	} {
		a, err := ParseAllow([]byte(tt.body))
		if (err != nil) != tt.err || err != nil && !errors.Is(err, ErrAllowBody) {
			t.Errorf("ParseAllow(%.60q) error = %v; want error %v wrapping ErrAllowBody", tt.body, err, tt.err)
			continue
		}
		if err == nil && (a.Login != tt.login || a.Remote.String() != tt.ip) {
			t.Errorf("ParseAllow(%.60q) = %q %s; want %q %s", tt.body, a.Login, a.Remote, tt.login, tt.ip)
		}
	}
}

func FuzzParseAllow(f *testing.F) {
	f.Add([]byte(allowBody("alice@example.org", "81.2.69.142")))
	f.Add([]byte(`{"login":"A\u00e9","remote":"::ffff:1.2.3.4"}`))
	f.Add([]byte(`{"login":null,"remote":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := ParseAllow(body)
		if err != nil {
			if !errors.Is(err, ErrAllowBody) {
				t.Fatalf("ParseAllow(%q) = %v; want an error wrapping ErrAllowBody", body, err)
			}
			return
		}
		if len(a.Login) > 320 || strings.ContainsAny(a.Login, " \t\r\n\x00") || a.Login != strings.ToLower(a.Login) {
			t.Fatalf("ParseAllow(%q) login %q: want at most 320 lower-case bytes without spaces", body, a.Login)
		}
		if a.Remote.IsValid() && (a.Remote.Is4In6() || a.Remote.Zone() != "") {
			t.Fatalf("ParseAllow(%q) remote %s: want an unmapped address without a zone", body, a.Remote)
		}
	})
}

// FuzzBlockAnswer: whatever a reason holds, the reject answer is one line of JSON whose msg is the reason.
func FuzzBlockAnswer(f *testing.F) {
	f.Add(`account "taken over"`)
	f.Add("line\nbreak\\")
	f.Fuzz(func(t *testing.T, msg string) {
		b := blockAnswer(msg)
		if strings.Count(string(b), "\n") != 1 || b[len(b)-1] != '\n' {
			t.Fatalf("blockAnswer(%q) = %q; want one line", msg, b)
		}
		var got struct {
			Status int    `json:"status"`
			Msg    string `json:"msg"`
		}
		if err := json.Unmarshal(b, &got); err != nil || got.Status != -1 || utf8.ValidString(msg) && got.Msg != msg {
			t.Fatalf("blockAnswer(%q) = %q (%v); want status -1 and the message", msg, b, err)
		}
	})
}
