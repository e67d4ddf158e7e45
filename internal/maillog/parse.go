// Package maillog reads Dovecot and Postfix log files into login and send events, for servers whose policy hooks
// are not enabled and for backfill.
//
// Event ids follow the policy endpoints' rules, so a login or message seen by both is stored once: a Dovecot login
// is "dovecot:<session>:<ok|fail>", a Postfix message "postfix:<queue id>". Failed SMTP AUTH lines carry no session;
// their id is derived from the content (time, user, address), so reading a file twice adds nothing.
package maillog

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// MaxLine bounds one log line.
const MaxLine = 16 << 10

// Skip reasons reported in the summary.
const (
	SkipIrrelevant = "irrelevant"
	SkipNoTime     = "no_timestamp"
	SkipInvalid    = "invalid"
	SkipTooLong    = "too_long"
)

// Line is one log line split into its parts.
type Line struct {
	Time    time.Time
	Program string // e.g. dovecot, imap-login, postfix/submission/smtpd
	Message string // the text after "program[pid]: "
}

var errNoTime = errors.New("no timestamp")

// SplitLine parses the timestamp (RFC 3339 or syslog "Jan _2 15:04:05", whose year is inferred from now) and the
// program of a line. loc is the zone of syslog timestamps.
func SplitLine(s string, now time.Time, loc *time.Location) (Line, error) {
	var l Line
	rest := ""
	if len(s) >= 20 && s[4] == '-' && s[10] == 'T' {
		tok, after, _ := strings.Cut(s, " ")
		t, err := time.Parse(time.RFC3339Nano, tok)
		if err != nil {
			return l, errNoTime
		}
		l.Time, rest = t.UTC(), after
	} else if len(s) >= 16 && s[3] == ' ' && s[6] == ' ' && s[9] == ':' && s[12] == ':' {
		t, err := time.ParseInLocation("Jan _2 15:04:05", s[:15], loc)
		if err != nil {
			return l, errNoTime
		}
		t = t.AddDate(now.In(loc).Year(), 0, 0)
		if t.After(now.Add(24 * time.Hour)) { // December's lines read in January
			t = t.AddDate(-1, 0, 0)
		}
		l.Time, rest = t.UTC(), strings.TrimPrefix(s[15:], " ")
		if i := strings.IndexByte(rest, '.'); i == 0 { // Dovecot's own "Nov 23 19:26:28.123" microseconds
			if j := strings.IndexByte(rest, ' '); j > 0 {
				rest = rest[j+1:]
			}
		}
	} else {
		return l, errNoTime
	}
	// "host program[pid]: message", "program[pid]: message" or "program: message".
	first, after, _ := strings.Cut(rest, " ")
	if !strings.HasSuffix(first, ":") {
		rest = after // the first word was the host
		first, after, _ = strings.Cut(rest, " ")
	}
	prog := strings.TrimSuffix(first, ":")
	if i := strings.IndexByte(prog, '['); i > 0 {
		prog = prog[:i]
	}
	l.Program, l.Message = prog, after
	return l, nil
}

// field returns the value of "name=value" up to ',' or the end (or "name=<value>").
func field(s, name string) string {
	i := strings.Index(s, name+"=")
	for i > 0 && s[i-1] != ' ' && s[i-1] != ',' && s[i-1] != '(' {
		j := strings.Index(s[i+1:], name+"=")
		if j < 0 {
			return ""
		}
		i += j + 1
	}
	if i < 0 {
		return ""
	}
	v := s[i+len(name)+1:]
	if strings.HasPrefix(v, "<") {
		if j := strings.IndexByte(v, '>'); j > 0 {
			return v[1:j]
		}
		return ""
	}
	if j := strings.IndexAny(v, ", "); j >= 0 {
		v = v[:j]
	}
	return v
}

// Dovecot parses a Dovecot login line: a successful "Login: user=<..>, ..., rip=..., session=<..>" or a failed
// "(auth failed, N attempts in S secs): user=<..>, ..., rip=...". ok is false for other lines.
func Dovecot(l Line) (e event.Event, ok bool) {
	msg := l.Message
	// The program is "dovecot" with the service first in the message, or the service itself.
	svc := l.Program
	if svc == "dovecot" {
		svc, msg, _ = strings.Cut(msg, ": ")
	}
	if !strings.HasSuffix(svc, "-login") {
		return e, false
	}
	msg = strings.TrimPrefix(msg, "Info: ")
	var success bool
	switch {
	case strings.HasPrefix(msg, "Login: "):
		success = true
	case strings.Contains(msg, "(auth failed, "):
		success = false
	default:
		return e, false
	}
	user, rip := field(msg, "user"), field(msg, "rip")
	if user == "" || rip == "" {
		return e, false
	}
	ip, err := event.ParseIP(rip)
	if err != nil {
		return e, false
	}
	e = event.Event{Kind: event.KindLogin, Time: l.Time, User: user, IP: ip, Service: dovecotService(strings.TrimSuffix(svc, "-login")), Success: success, Session: field(msg, "session")}
	if e.Session != "" {
		e.ID = "dovecot:" + e.Session + map[bool]string{true: ":ok", false: ":fail"}[success]
	}
	return e, true
}

func dovecotService(s string) string {
	switch s {
	case "imap", "pop3", "submission":
		return s
	}
	return "other"
}

// PostfixAuthFailure parses "warning: host[IP]: SASL PLAIN authentication failed: ..., sasl_username=alice".
func PostfixAuthFailure(l Line) (e event.Event, ok bool) {
	if !strings.HasPrefix(l.Program, "postfix/") || !strings.HasPrefix(l.Message, "warning: ") || !strings.Contains(l.Message, " authentication failed") {
		return e, false
	}
	open := strings.IndexByte(l.Message, '[')
	closeB := strings.IndexByte(l.Message, ']')
	user := field(l.Message, "sasl_username")
	if open < 0 || closeB < open || user == "" {
		return e, false
	}
	ip, err := event.ParseIP(l.Message[open+1 : closeB])
	if err != nil {
		return e, false
	}
	return event.Event{Kind: event.KindLogin, Time: l.Time, User: user, IP: ip, Service: postfixService(l.Program), Success: false}, true
}

func postfixService(prog string) string {
	if strings.Contains(prog, "/submission/") || strings.Contains(prog, "/submissions/") {
		return "submission"
	}
	return "smtp"
}

// Submission is the smtpd half of a submitted message: "QUEUEID: client=host[IP], sasl_method=..., sasl_username=u".
type Submission struct {
	QueueID, User, Service string
	IP                     string
	Time                   time.Time
}

// PostfixClient parses the smtpd line of an authenticated submission.
func PostfixClient(l Line) (s Submission, ok bool) {
	if !strings.HasPrefix(l.Program, "postfix/") || !strings.HasSuffix(l.Program, "smtpd") {
		return s, false
	}
	qid, rest, found := strings.Cut(l.Message, ": client=")
	if !found || !validQueueID(qid) {
		return s, false
	}
	user := field(rest, "sasl_username")
	open, closeB := strings.IndexByte(rest, '['), strings.IndexByte(rest, ']')
	if user == "" || open < 0 || closeB < open {
		return s, false
	}
	return Submission{QueueID: qid, User: user, IP: rest[open+1 : closeB], Service: postfixService(l.Program), Time: l.Time}, true
}

// PostfixQueued parses the queue manager's "QUEUEID: from=<...>, size=N, nrcpt=N (queue active)".
func PostfixQueued(l Line) (queueID string, size int64, rcpts int, ok bool) {
	if !strings.HasPrefix(l.Program, "postfix/") || !strings.HasSuffix(l.Program, "qmgr") {
		return "", 0, 0, false
	}
	qid, rest, found := strings.Cut(l.Message, ": from=")
	if !found || !validQueueID(qid) || !strings.Contains(rest, "nrcpt=") {
		return "", 0, 0, false
	}
	n, err := strconv.Atoi(field(rest, "nrcpt"))
	if err != nil || n < 1 {
		return "", 0, 0, false
	}
	size, _ = strconv.ParseInt(field(rest, "size"), 10, 64)
	return qid, size, n, true
}

func validQueueID(q string) bool {
	if len(q) < 5 || len(q) > 32 {
		return false
	}
	for _, c := range q {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}
