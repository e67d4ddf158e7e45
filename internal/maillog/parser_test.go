package maillog

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vigil-ids/vigil/internal/dovecot"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/postfix"
)

// Lines as Debian's Dovecot 2.3.19 and Postfix 3.7 write them (reference/mail-servers.md), with both prefixes.
var sample = []string{
	"Nov 23 19:26:28 mx1 dovecot: imap-login: Login: user=<alice>, method=PLAIN, rip=81.2.69.142, lip=127.0.0.1, mpid=19853, secured, session=<LT38k/Zgy8NRAkWO>",
	"2026-11-23T19:26:29.123456+00:00 mx1 dovecot: imap-login: Disconnected: Aborted login by logging out (auth failed, 2 attempts in 2 secs): user=<alice>, method=PLAIN, rip=8.8.8.8, lip=127.0.0.1, secured, session=<9icOkvZgOL5/AAAB>",
	"Nov 23 19:26:30 imap-login: Info: Login: user=<Bob@Example.org>, method=PLAIN, rip=2a00:1450:4001::1, lip=::1, mpid=1, session=<abcd>",
	"Nov 23 19:26:31 mx1 postfix/submission/smtpd[20167]: E3F44D031A: client=localhost[81.2.69.142], sasl_method=PLAIN, sasl_username=alice",
	"Nov 23 19:26:32 mx1 postfix/qmgr[20106]: E3F44D031A: from=<alice@example.org>, size=345, nrcpt=3 (queue active)",
	"Nov 23 19:26:33 mx1 postfix/smtpd[20171]: warning: unknown[81.2.69.142]: SASL PLAIN authentication failed: (reason unavailable), sasl_username=alice",
	"Nov 23 19:26:34 mx1 postfix/qmgr[20106]: 0123456789: from=<x@y>, size=1, nrcpt=1 (queue active)", // not authenticated
	"Nov 23 19:26:35 mx1 postfix/smtpd[20171]: connect from unknown[81.2.69.142]",
	"Nov 23 19:26:36 mx1 dovecot: imap-login: Login: user=<a b>, method=PLAIN, rip=1.2.3.4, session=<sp>", // a user name the schema refuses
	"garbage",
}

// sampleEvents are the events of sample, in order.
func sampleEvents() []event.Event {
	ip := netip.MustParseAddr
	evs := []event.Event{
		{ID: "dovecot:LT38k/Zgy8NRAkWO:ok", Kind: event.KindLogin, Time: at("2026-11-23T19:26:28Z"), User: "alice", IP: ip("81.2.69.142"), Service: "imap", Success: true, Source: "mx1", Session: "LT38k/Zgy8NRAkWO"},
		{ID: "dovecot:9icOkvZgOL5/AAAB:fail:1", Kind: event.KindLogin, Time: at("2026-11-23T19:26:29.123456Z"), User: "alice", IP: ip("8.8.8.8"), Service: "imap", Source: "mx1", Session: "9icOkvZgOL5/AAAB"},
		{ID: "dovecot:9icOkvZgOL5/AAAB:fail:2", Kind: event.KindLogin, Time: at("2026-11-23T19:26:29.123456Z"), User: "alice", IP: ip("8.8.8.8"), Service: "imap", Source: "mx1", Session: "9icOkvZgOL5/AAAB"},
		{ID: "dovecot:abcd:ok", Kind: event.KindLogin, Time: at("2026-11-23T19:26:30Z"), User: "bob@example.org", Domain: "example.org", IP: ip("2a00:1450:4001::1"), Service: "imap", Success: true, Session: "abcd"},
		{ID: "postfix:E3F44D031A", Kind: event.KindSend, Time: at("2026-11-23T19:26:32Z"), User: "alice", IP: ip("81.2.69.142"), Service: "submission", Recipients: 3, Size: 345, MessageID: "E3F44D031A", Source: "mx1"},
		{Kind: event.KindLogin, Time: at("2026-11-23T19:26:33Z"), User: "alice", IP: ip("81.2.69.142"), Service: "smtp", Source: "mx1"},
	}
	evs[5].ID = event.ContentID(&evs[5])
	return evs
}

func newTestParser(format string) *Parser {
	p := NewParser(format)
	p.Loc, p.Now = time.UTC, func() time.Time { return now }
	return p
}

func TestParserEvents(t *testing.T) {
	p := newTestParser("auto")
	var got []event.Event
	reasons := map[string]int{}
	for _, l := range sample {
		evs, reason := p.Line(l)
		if reason != "" {
			reasons[reason]++
		}
		got = append(got, evs...)
	}
	if diff := cmp.Diff(sampleEvents(), got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	want := map[string]int{SkipIrrelevant: 3, SkipInvalid: 1, SkipNoTime: 1}
	if !cmp.Equal(reasons, want) {
		t.Errorf("skip reasons = %v; want %v (smtpd client line, unknown queue id, connect; a user with a space; garbage)", reasons, want)
	}
	if evs, reason := p.Line(strings.Repeat("x", MaxLine+1)); evs != nil || reason != SkipTooLong {
		t.Errorf("Line(too long) = %v, %q; want %q", evs, reason, SkipTooLong)
	}
}

func TestParserFormats(t *testing.T) {
	for i, tt := range []struct {
		format   string
		skipAuth bool
		want     int
	}{
		{"auto", false, 6},
		{"dovecot", false, 4},
		{"postfix", false, 2},
		{"postfix", true, 1}, // Dovecot's policy endpoint reports failed SMTP AUTH
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			p := newTestParser(tt.format)
			p.SkipSMTPAuth = tt.skipAuth
			n := 0
			for _, l := range sample {
				evs, _ := p.Line(l)
				n += len(evs)
			}
			if n != tt.want {
				t.Errorf("format %s (skip SMTP AUTH %v): %d events; want %d", tt.format, tt.skipAuth, n, tt.want)
			}
		})
	}
}

// A session that failed more often than mailid.MaxAttempts gives MaxAttempts events, not a flood.
func TestParserBoundsAttempts(t *testing.T) {
	p := newTestParser("dovecot")
	evs, _ := p.Line("Nov 23 19:26:28 imap-login: Disconnected (auth failed, 999999999 attempts in 2 secs): user=<a>, rip=1.2.3.4, session=<s>")
	if len(evs) != 1000 || evs[999].ID != "dovecot:s:fail:1000" {
		t.Errorf("a line with 999999999 attempts gave %d events; want 1000", len(evs))
	}
}

// TestIDsMatchThePolicyEndpoints feeds the same login and message to the policy endpoints' decoders and to the
// log parser: the ids agree, which is what makes the two paths deduplicate.
func TestIDsMatchThePolicyEndpoints(t *testing.T) {
	p := newTestParser("auto")
	logIDs := map[string]bool{}
	for _, l := range sample[:5] {
		evs, _ := p.Line(l)
		for _, e := range evs {
			logIDs[e.ID] = true
		}
	}
	yes, no := true, false
	str := func(s string) *string { return &s }
	var policyIDs []string
	for _, r := range []struct {
		rep     dovecot.Report
		attempt int
	}{
		{dovecot.Report{Login: str("alice"), Remote: str("81.2.69.142"), Protocol: "imap", SessionID: "LT38k/Zgy8NRAkWO", Success: &yes}, 0},
		{dovecot.Report{Login: str("alice"), Remote: str("8.8.8.8"), Protocol: "imap", SessionID: "9icOkvZgOL5/AAAB", Success: &no}, 1},
		{dovecot.Report{Login: str("alice"), Remote: str("8.8.8.8"), Protocol: "imap", SessionID: "9icOkvZgOL5/AAAB", Success: &no}, 2},
		{dovecot.Report{Login: str("bob@example.org"), Remote: str("2a00:1450:4001::1"), Protocol: "imap", SessionID: "abcd", Success: &yes}, 0},
	} {
		e, err := r.rep.Event(now, "imap1", r.attempt)
		if err != nil {
			t.Fatal(err)
		}
		policyIDs = append(policyIDs, e.ID)
	}
	req := postfix.Request{"request": "smtpd_access_policy", "protocol_state": "END-OF-MESSAGE", "client_address": "81.2.69.142",
		"recipient_count": "3", "size": "345", "queue_id": "E3F44D031A", "instance": "1a.2b.3", "sasl_username": "alice", "server_port": "587"}
	e, ok, err := req.Event(now, "smtp1")
	if !ok || err != nil {
		t.Fatalf("postfix Request.Event = %v, %v", ok, err)
	}
	policyIDs = append(policyIDs, e.ID)
	for _, id := range policyIDs {
		if !logIDs[id] {
			t.Errorf("policy id %q is not among the log ids %v", id, logIDs)
		}
	}
	if len(logIDs) != len(policyIDs) {
		t.Errorf("log ids %v; want exactly the policy ids %v", logIDs, policyIDs)
	}
}

func FuzzParserLine(f *testing.F) {
	for _, l := range sample {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := newTestParser("auto")
		p.Line("Nov 23 19:26:31 mx1 postfix/smtpd[1]: ABCDEF: client=x[1.2.3.4], sasl_username=u") // a pending submission to join
		evs, reason := p.Line(s)
		if (reason == "") != (len(evs) > 0) {
			t.Fatalf("Line(%q) = %d events and reason %q; want events or a reason", s, len(evs), reason)
		}
		for _, e := range evs {
			if e.ID == "" || e.User == "" || !e.IP.IsValid() {
				t.Fatalf("Line(%q) gave an incomplete event %+v", s, e)
			}
			if _, err := event.New(e, now); err != nil {
				t.Fatalf("Line(%q) gave %+v, which the schema rejects: %v", s, e, err)
			}
		}
	})
}
