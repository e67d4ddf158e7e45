package maillog

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// Lines captured from Debian's Dovecot 2.3.19 and Postfix 3.7 (reference/mail-servers.md), with both prefixes.
var lines = []string{
	"Nov 23 19:26:28 mx1 dovecot: imap-login: Login: user=<alice>, method=PLAIN, rip=81.2.69.142, lip=127.0.0.1, mpid=19853, secured, session=<LT38k/Zgy8NRAkWO>",
	"2026-11-23T19:26:29.123456+00:00 mx1 dovecot: imap-login: Disconnected: Aborted login by logging out (auth failed, 1 attempts in 2 secs): user=<alice>, method=PLAIN, rip=8.8.8.8, lip=127.0.0.1, secured, session=<9icOkvZgOL5/AAAB>",
	"Nov 23 19:26:30 imap-login: Info: Login: user=<bob>, method=PLAIN, rip=2a00:1450:4001::1, lip=::1, mpid=1, session=<abcd>",
	"Nov 23 19:26:31 mx1 postfix/submission/smtpd[20167]: E3F44D031A: client=localhost[81.2.69.142], sasl_method=PLAIN, sasl_username=alice",
	"Nov 23 19:26:31 mx1 postfix/qmgr[20106]: E3F44D031A: from=<alice@example.org>, size=345, nrcpt=3 (queue active)",
	"Nov 23 19:26:32 mx1 postfix/smtpd[20171]: warning: unknown[81.2.69.142]: SASL PLAIN authentication failed: (reason unavailable), sasl_username=alice",
	"Nov 23 19:26:33 mx1 postfix/qmgr[20106]: 0123456789: from=<x@y>, size=1, nrcpt=1 (queue active)", // not authenticated
	"Nov 23 19:26:34 mx1 postfix/smtpd[20171]: connect from unknown[81.2.69.142]",
	"garbage",
}

func TestParserEvents(t *testing.T) {
	p := NewParser("auto")
	p.Loc, p.Now = time.UTC, func() time.Time { return now }
	var got []event.Event
	reasons := map[string]int{}
	for _, l := range lines {
		e, reason := p.Line(l)
		if reason != "" {
			reasons[reason]++
			continue
		}
		got = append(got, e)
	}
	want := []struct {
		id, user, ip, service string
		kind                  event.Kind
		success               bool
		rcpts                 int
	}{
		{"dovecot:LT38k/Zgy8NRAkWO:ok", "alice", "81.2.69.142", "imap", event.KindLogin, true, 0},
		{"dovecot:9icOkvZgOL5/AAAB:fail", "alice", "8.8.8.8", "imap", event.KindLogin, false, 0},
		{"dovecot:abcd:ok", "bob", "2a00:1450:4001::1", "imap", event.KindLogin, true, 0},
		{"postfix:E3F44D031A", "alice", "81.2.69.142", "submission", event.KindSend, false, 3},
		{"", "alice", "81.2.69.142", "smtp", event.KindLogin, false, 0},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events %+v; want %d", len(got), got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if w.id != "" && g.ID != w.id || g.User != w.user || g.IP.String() != w.ip || g.Service != w.service || g.Kind != w.kind || g.Success != w.success || g.Recipients != w.rcpts {
			t.Errorf("event %d = %+v; want %+v", i, g, w)
		}
	}
	if !got[0].Time.Equal(time.Date(2026, 11, 23, 19, 26, 28, 0, time.UTC)) || !got[1].Time.Equal(time.Date(2026, 11, 23, 19, 26, 29, 123456000, time.UTC)) {
		t.Errorf("times = %v, %v", got[0].Time, got[1].Time)
	}
	if reasons[SkipIrrelevant] != 3 || reasons[SkipNoTime] != 1 {
		t.Errorf("skip reasons = %v; want 3 irrelevant (smtpd client line, unknown queue id, connect) and 1 without a timestamp", reasons)
	}
}

func TestSyslogYearInference(t *testing.T) {
	jan := time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC)
	l, err := SplitLine("Dec 31 23:59:59 host dovecot: x", jan, time.UTC)
	if err != nil || l.Time.Year() != 2026 {
		t.Errorf("December line read in January: %v, %v; want year 2026", l.Time, err)
	}
}

type collect struct {
	mu  sync.Mutex
	evs []event.Event
}

func (c *collect) Publish(_ context.Context, evs []event.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evs = append(c.evs, evs...)
	return nil
}

func (c *collect) ids() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string]int{}
	for _, e := range c.evs {
		m[e.ID]++
	}
	return m
}

// TestBackfillTwiceSameIDs reads a file twice: the events carry the same ids, so the store keeps one of each.
func TestBackfillTwiceSameIDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.log")
	os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	sink := &collect{}
	for range 2 {
		p := NewParser("auto")
		p.Loc = time.UTC
		r := &Reader{Parser: p, Sink: sink}
		if err := r.Backfill(context.Background(), path); err != nil {
			t.Fatal(err)
		}
		if s := r.Summary(); s.Lines != len(lines) || s.Events != 5 {
			t.Errorf("summary = %s; want %d lines, 5 events", s.String(), len(lines))
		}
	}
	ids := sink.ids()
	if len(ids) != 5 {
		t.Errorf("distinct ids = %d; want 5", len(ids))
	}
	for id, n := range ids {
		if n != 2 {
			t.Errorf("id %s sent %d times over two reads; want 2 (the same id each time)", id, n)
		}
	}
}

// TestFollowSurvivesRotation appends, rotates and truncates a file while following it.
func TestFollowSurvivesRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mail.log")
	os.WriteFile(path, []byte(lines[0]+"\n"), 0o644) // existing content is skipped without -from-start
	sink := &collect{}
	p := NewParser("dovecot")
	p.Loc = time.UTC
	r := &Reader{Parser: p, Sink: sink, Poll: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Follow(ctx, path, false) }()
	waitIDs := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for len(sink.ids()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d events after 5s; want %d: %v", len(sink.ids()), n, sink.ids())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	time.Sleep(50 * time.Millisecond)
	appendLine := func(p, s string) {
		f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
		f.WriteString(s)
		f.Close()
	}
	appendLine(path, lines[1]+"\n")
	waitIDs(1)
	os.Rename(path, path+".1") // rotation: a new file appears
	appendLine(path, strings.Replace(lines[2], "abcd", "rot1", 1)+"\n")
	waitIDs(2)
	os.Truncate(path, 0) // copytruncate
	appendLine(path, strings.Replace(lines[2], "abcd", "rot2", 1))
	time.Sleep(50 * time.Millisecond) // a line without its newline yet is held back
	appendLine(path, "\n")
	waitIDs(3)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ids := sink.ids()
	for _, id := range []string{"dovecot:9icOkvZgOL5/AAAB:fail", "dovecot:rot1:ok", "dovecot:rot2:ok"} {
		if ids[id] != 1 {
			t.Errorf("%s sent %d times; want 1 (ids %v)", id, ids[id], ids)
		}
	}
}

func FuzzLine(f *testing.F) {
	for _, l := range lines {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := NewParser("auto")
		p.Now = func() time.Time { return now }
		e, reason := p.Line(s)
		if reason == "" && (e.ID == "" || e.User == "" || !e.IP.IsValid()) {
			t.Fatalf("Line(%q) = %+v without a reason", s, e)
		}
	})
}
