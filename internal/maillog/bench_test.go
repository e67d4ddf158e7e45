package maillog

import (
	"testing"
	"time"
)

// benchLines are a mail log's lines: logins, a submission's two lines, and lines without an event.
var benchLines = []string{
	"Nov 23 19:26:28 mx1 dovecot: imap-login: Login: user=<alice@example.org>, method=PLAIN, rip=81.2.69.142, lip=10.0.0.1, mpid=19853, TLS, session=<LT38k/Zgy8NRAkWO>",
	"Nov 23 19:26:31 mx1 postfix/submission/smtpd[20167]: E3F44D031A: client=host[81.2.69.142], sasl_method=PLAIN, sasl_username=alice@example.org",
	"Nov 23 19:26:31 mx1 postfix/qmgr[20106]: E3F44D031A: from=<alice@example.org>, size=345, nrcpt=1 (queue active)",
	"Nov 23 19:26:32 mx1 dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<bob@example.org>, method=PLAIN, rip=8.8.8.8, lip=10.0.0.1, TLS, session=<9icOkvZgOL5/AAAB>",
	"Nov 23 19:26:34 mx1 postfix/smtpd[20171]: connect from unknown[81.2.69.142]",
	"Nov 23 19:26:35 mx1 postfix/smtp[20175]: E3F44D031A: to=<x@example.net>, relay=mx.example.net[93.184.216.34]:25, delay=0.4, status=sent (250 ok)",
	"Nov 23 19:26:36 mx1 dovecot: imap(alice@example.org)<19853><LT38k/Zgy8NRAkWO>: Info: Disconnected: Logged out in=120 out=3456",
	"Nov 23 19:26:37 mx1 postfix/qmgr[20106]: E3F44D031A: removed",
}

// BenchmarkParserLine parses a mix of lines; lines/s is the figure for backfill planning.
func BenchmarkParserLine(b *testing.B) {
	p := NewParser("auto")
	p.Loc, p.Now = time.UTC, func() time.Time { return now }
	b.ReportAllocs()
	start := time.Now()
	i := 0
	for b.Loop() {
		p.Line(benchLines[i%len(benchLines)])
		i++
	}
	b.ReportMetric(float64(i)/time.Since(start).Seconds(), "lines/s")
}

// BenchmarkParserLogin parses successful Dovecot logins only: every line is an event.
func BenchmarkParserLogin(b *testing.B) {
	p := NewParser("auto")
	p.Loc, p.Now = time.UTC, func() time.Time { return now }
	b.ReportAllocs()
	for b.Loop() {
		if evs, reason := p.Line(benchLines[0]); len(evs) != 1 {
			b.Fatalf("Line = %v, %q", evs, reason)
		}
	}
}
