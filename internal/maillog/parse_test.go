package maillog

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestSplitLine(t *testing.T) {
	for i, tt := range []struct {
		in   string
		want Line
		err  bool
	}{
		{"Nov 23 19:26:28 mx1 dovecot: imap-login: Login: x", Line{at("2026-11-23T19:26:28Z"), "mx1", "dovecot", "imap-login: Login: x"}, false},
		{"Nov 23 19:26:28 imap-login: Info: Login: x", Line{at("2026-11-23T19:26:28Z"), "", "imap-login", "Info: Login: x"}, false},
		{"Nov  3 01:02:03 mx1 postfix/qmgr[20106]: ABCDE: from=<>", Line{at("2026-11-03T01:02:03Z"), "mx1", "postfix/qmgr", "ABCDE: from=<>"}, false},
		{"Nov 03 01:02:03 imap-login: x", Line{at("2026-11-03T01:02:03Z"), "", "imap-login", "x"}, false},
		{"Nov 23 19:26:28.123456 imap-login: x", Line{at("2026-11-23T19:26:28.123456Z"), "", "imap-login", "x"}, false},
		{"2026-11-23T19:26:29.5+01:00 mx1 postfix/smtpd[1]: warning: x", Line{at("2026-11-23T18:26:29.5Z"), "mx1", "postfix/smtpd", "warning: x"}, false},
		{"2026-11-23T19:26:29Z dovecot[7]: imap-login: x", Line{at("2026-11-23T19:26:29Z"), "", "dovecot", "imap-login: x"}, false},
		{"Dec 31 23:59:59 mx1 dovecot: x", Line{at("2025-12-31T23:59:59Z"), "mx1", "dovecot", "x"}, false}, // read in November 2026: last year
		{"Nov 25 10:00:00 mx1 dovecot: x", Line{at("2026-11-25T10:00:00Z"), "mx1", "dovecot", "x"}, false}, // less than a day ahead: clock skew
		{"garbage", Line{}, true},
		{"Foo 23 19:26:28 mx1 dovecot: x", Line{}, true},
		{"2026-13-23T19:26:29Z mx1 dovecot: x", Line{}, true},
		{"1999-11-23T19:26:29Z mx1 dovecot: x", Line{}, true},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			got, err := SplitLine(tt.in, now, time.UTC)
			if (err != nil) != tt.err || !tt.err && !cmp.Equal(got, tt.want) {
				t.Errorf("SplitLine(%q) = %+v, %v; want %+v (error %v)", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
	jan := time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC)
	if l, err := SplitLine("Dec 31 23:59:59 host dovecot: x", jan, time.UTC); err != nil || l.Time.Year() != 2026 {
		t.Errorf("SplitLine(December line) in January = %v, %v; want year 2026", l.Time, err)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := SplitLine("Nov 23 19:26:28 mx1 dovecot: x", now, berlin); !l.Time.Equal(at("2026-11-23T18:26:28Z")) {
		t.Errorf("SplitLine in Europe/Berlin = %v; want 18:26:28 UTC", l.Time)
	}
}

func split(t *testing.T, s string) Line {
	t.Helper()
	l, err := SplitLine(s, now, time.UTC)
	if err != nil {
		t.Fatalf("SplitLine(%q) = %v", s, err)
	}
	return l
}

var addr = netip.MustParseAddr

func TestDovecot(t *testing.T) {
	for i, tt := range []struct {
		in   string
		want DovecotLogin
		ok   bool
	}{
		{"Nov 23 19:26:28 mx1 dovecot: imap-login: Login: user=<alice>, method=PLAIN, rip=81.2.69.142, lip=127.0.0.1, mpid=19853, secured, session=<LT38k/Zgy8NRAkWO>",
			DovecotLogin{User: "alice", IP: addr("81.2.69.142"), Service: "imap", Session: "LT38k/Zgy8NRAkWO", Success: true}, true},
		{"Nov 23 19:26:28 imap-login: Info: Disconnected: Aborted login by logging out (auth failed, 3 attempts in 12 secs): user=<alice>, method=PLAIN, rip=127.0.0.1, lip=127.0.0.1, secured, session=<9icOkvZgOL5/AAAB>",
			DovecotLogin{User: "alice", IP: addr("127.0.0.1"), Service: "imap", Session: "9icOkvZgOL5/AAAB", Attempts: 3}, true},
		{"Jan 15 08:00:00 server dovecot: pop3-login: Disconnected (auth failed, 1 attempts): user=<admin@example.com>, method=PLAIN, rip=192.0.2.1, lip=10.0.0.1, TLS, session=<abc123>",
			DovecotLogin{User: "admin@example.com", IP: addr("192.0.2.1"), Service: "pop3", Session: "abc123", Attempts: 1}, true},
		{"Nov 23 19:26:30 mx1 dovecot: submission-login: Login: user=<bob>, method=PLAIN, rip=2a00:1450:4001::1, lip=::1, session=<s>",
			DovecotLogin{User: "bob", IP: addr("2a00:1450:4001::1"), Service: "submission", Session: "s", Success: true}, true},
		{"Nov 23 19:26:30 mx1 dovecot: managesieve-login: Login: user=<bob>, rip=::ffff:1.2.3.4, session=<s>",
			DovecotLogin{User: "bob", IP: addr("1.2.3.4"), Service: "other", Session: "s", Success: true}, true},
		{"Nov 23 19:26:30 mx1 dovecot: imap-login: Login: user=<bob>, rip=1.2.3.4", // no session
			DovecotLogin{User: "bob", IP: addr("1.2.3.4"), Service: "imap", Success: true}, true},
		{"Nov 23 19:26:30 mx1 dovecot: imap-login: Disconnected: Connection closed (disconnected before auth was ready, waited 0 secs): user=<>, rip=127.0.0.1, session=<x>", DovecotLogin{}, false},
		{"Nov 23 19:26:30 mx1 dovecot: imap-login: Disconnected (auth failed, 1 attempts): rip=192.0.2.1, lip=10.0.0.1", DovecotLogin{}, false}, // no user
		{"Nov 23 19:26:30 mx1 dovecot: imap-login: Login: user=<bob>, rip=not-an-ip, session=<s>", DovecotLogin{}, false},
		{"Nov 23 19:26:30 mx1 dovecot: imap(alice)<1><s>: Info: Disconnected: Logged out in=0 out=405", DovecotLogin{}, false},
		{"Nov 23 19:26:30 mx1 dovecot: auth: passwd-file(alice,1.2.3.4): unknown user", DovecotLogin{}, false},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			got, ok := Dovecot(split(t, tt.in))
			if ok != tt.ok || ok && !cmp.Equal(got, tt.want, cmpopts.EquateComparable(netip.Addr{})) {
				t.Errorf("Dovecot(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestPostfixLines(t *testing.T) {
	eq := cmpopts.EquateComparable(netip.Addr{})
	for i, tt := range []struct {
		in   string
		want SMTPAuthFailure
		ok   bool
	}{
		{"Nov 23 19:26:32 mx1 postfix/smtpd[20171]: warning: unknown[81.2.69.142]: SASL PLAIN authentication failed: (reason unavailable), sasl_username=alice",
			SMTPAuthFailure{"alice", addr("81.2.69.142"), "smtp"}, true},
		{"Nov 23 19:26:32 mx1 postfix/submission/smtpd[20171]: warning: host.example[2001:db8::1]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, sasl_username=bob@example.org",
			SMTPAuthFailure{"bob@example.org", addr("2001:db8::1"), "submission"}, true},
		{"Nov 23 19:26:32 mx1 postfix/smtpd[20171]: warning: unknown[81.2.69.142]: SASL LOGIN authentication failed: UGFzc3dvcmQ6", SMTPAuthFailure{}, false}, // no user
		{"Nov 23 19:26:32 mx1 postfix/smtpd[20171]: warning: unknown[x]: SASL PLAIN authentication failed: , sasl_username=a", SMTPAuthFailure{}, false},
		{"Nov 23 19:26:32 mx1 postfix/smtpd[20171]: connect from unknown[81.2.69.142]", SMTPAuthFailure{}, false},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			got, ok := PostfixAuthFailure(split(t, tt.in))
			if ok != tt.ok || ok && !cmp.Equal(got, tt.want, eq) {
				t.Errorf("PostfixAuthFailure(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
	for i, tt := range []struct {
		in   string
		want Submission
		ok   bool
	}{
		{"Nov 23 19:26:31 mx1 postfix/submission/smtpd[20167]: E3F44D031A: client=localhost[127.0.0.1], sasl_method=PLAIN, sasl_username=alice",
			Submission{"E3F44D031A", "alice", "submission", addr("127.0.0.1")}, true},
		{"Nov 23 19:26:31 mx1 postfix/smtpd[20167]: 4Xk2Pq0YqBz9vW: client=mail.example[8.8.4.4], sasl_method=LOGIN, sasl_username=bob@example.org, sasl_sender=",
			Submission{"4Xk2Pq0YqBz9vW", "bob@example.org", "smtp", addr("8.8.4.4")}, true},
		{"Nov 23 19:26:31 mx1 postfix/smtpd[20167]: E3F44D031A: client=localhost[127.0.0.1]", Submission{}, false}, // not authenticated
		{"Nov 23 19:26:31 mx1 postfix/qmgr[20167]: E3F44D031A: client=localhost[127.0.0.1], sasl_username=a", Submission{}, false},
		{"Nov 23 19:26:31 mx1 postfix/smtpd[20167]: E3-44: client=localhost[127.0.0.1], sasl_username=a", Submission{}, false},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			got, ok := PostfixClient(split(t, tt.in))
			if ok != tt.ok || ok && !cmp.Equal(got, tt.want, eq) {
				t.Errorf("PostfixClient(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
	for i, tt := range []struct {
		in   string
		want Queued
		ok   bool
	}{
		{"Nov 23 19:26:31 mx1 postfix/qmgr[20106]: E3F44D031A: from=<alice@example.org>, size=345, nrcpt=3 (queue active)", Queued{"E3F44D031A", 345, 3}, true},
		{"Nov 23 19:26:31 mx1 postfix/qmgr[20106]: E3F44D031A: from=<>, size=x, nrcpt=1 (queue active)", Queued{"E3F44D031A", 0, 1}, true},
		{"Nov 23 19:26:31 mx1 postfix/qmgr[20106]: E3F44D031A: from=<a@b>, size=1, nrcpt=0 (queue active)", Queued{}, false},
		{"Nov 23 19:26:31 mx1 postfix/qmgr[20106]: E3F44D031A: from=<a@b>, status=expired, returned to sender", Queued{}, false},
		{"Nov 23 19:26:31 mx1 postfix/qmgr[20106]: E3F44D031A: removed", Queued{}, false},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			got, ok := PostfixQueued(split(t, tt.in))
			if ok != tt.ok || ok && got != tt.want {
				t.Errorf("PostfixQueued(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// Fuzz targets for each line parser: no panic, and what they accept is complete.

func FuzzSplitLine(f *testing.F) {
	for _, l := range sample {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := SplitLine(s, now, time.UTC)
		if err == nil && (l.Time.IsZero() || l.Time.Location() != time.UTC) {
			t.Fatalf("SplitLine(%q) = %+v without a UTC time", s, l)
		}
	})
}

func FuzzDovecot(f *testing.F) {
	for _, l := range sample {
		f.Add("imap-login", l)
	}
	f.Fuzz(func(t *testing.T, prog, msg string) {
		d, ok := Dovecot(Line{Time: now, Program: prog, Message: msg})
		if ok && (d.User == "" || !d.IP.IsValid() || !d.Success && d.Attempts < 1) {
			t.Fatalf("Dovecot(%q, %q) = %+v; want a user, an address and attempts", prog, msg, d)
		}
	})
}

func FuzzPostfix(f *testing.F) {
	for _, l := range sample {
		f.Add("postfix/submission/smtpd", l)
		f.Add("postfix/qmgr", l)
	}
	f.Fuzz(func(t *testing.T, prog, msg string) {
		l := Line{Time: now, Program: prog, Message: msg}
		if a, ok := PostfixAuthFailure(l); ok && (a.User == "" || !a.IP.IsValid()) {
			t.Fatalf("PostfixAuthFailure(%q, %q) = %+v", prog, msg, a)
		}
		if s, ok := PostfixClient(l); ok && (s.User == "" || !s.IP.IsValid() || !validQueueID(s.QueueID)) {
			t.Fatalf("PostfixClient(%q, %q) = %+v", prog, msg, s)
		}
		if q, ok := PostfixQueued(l); ok && (q.Recipients < 1 || q.Size < 0 || !validQueueID(q.QueueID)) {
			t.Fatalf("PostfixQueued(%q, %q) = %+v", prog, msg, q)
		}
	})
}
