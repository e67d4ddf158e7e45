// Package maillog reads Dovecot and Postfix log files into login and send events, for servers whose policy hooks
// are not enabled and for backfill.
//
// Event ids follow package mailid, the rules the policy endpoints use, so a login or message seen by both is
// stored once: a Dovecot login is "dovecot:<session>:ok" or, for each of the N attempts of a session that ended
// "(auth failed, N attempts ...)", "dovecot:<session>:fail:<n>"; a Postfix message is "postfix:<queue id>".
// Failed SMTP AUTH lines carry no session: their id is derived from their content (time, user, address), so
// reading a file twice adds nothing.
package maillog

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// MaxLine bounds one log line in bytes; longer lines are skipped as too long.
const MaxLine = 16 << 10

// Line is one log line split into its parts.
type Line struct {
	Time    time.Time
	Host    string // the syslog host field, or "" (Dovecot's own log_path has none)
	Program string // e.g. dovecot, imap-login, postfix/submission/smtpd
	Message string // the text after "program[pid]: "
}

// ErrNoTime reports a line that does not start with a timestamp SplitLine knows.
var ErrNoTime = errors.New("no syslog or RFC 3339 timestamp")

// SplitLine parses the timestamp and the program of a line. Timestamps are RFC 3339 ("2026-11-23T19:26:29.123+01:00")
// or syslog's "Nov 23 19:26:28" in zone loc, whose year is inferred: the latest year that does not put the line
// more than a day after now.
func SplitLine(s string, now time.Time, loc *time.Location) (Line, error) {
	var l Line
	var rest string
	switch {
	case len(s) >= 20 && s[4] == '-' && s[7] == '-' && s[10] == 'T':
		tok, after, _ := strings.Cut(s, " ")
		t, err := time.Parse(time.RFC3339Nano, tok)
		if err != nil {
			return l, ErrNoTime
		}
		l.Time, rest = t.UTC(), after
	case len(s) >= 16 && s[3] == ' ' && s[6] == ' ' && s[9] == ':' && s[12] == ':':
		t, err := time.ParseInLocation("Jan _2 15:04:05", s[:15], loc)
		if err != nil {
			return l, ErrNoTime
		}
		t = t.AddDate(now.In(loc).Year(), 0, 0)
		if t.After(now.Add(24 * time.Hour)) { // December's lines read in January
			t = t.AddDate(-1, 0, 0)
		}
		rest = s[15:]
		if len(rest) > 1 && rest[0] == '.' { // "Nov 23 19:26:28.123456" (log_timestamp with %{usecs})
			frac, after, _ := strings.Cut(rest[1:], " ")
			if us, err := strconv.Atoi(frac); err == nil && len(frac) <= 9 {
				t = t.Add(time.Duration(us) * time.Duration(pow10(9-len(frac))))
			}
			rest = " " + after
		}
		l.Time, rest = t.UTC(), strings.TrimPrefix(rest, " ")
	default:
		return l, ErrNoTime
	}
	if l.Time.Year() < 2000 || l.Time.Year() > 2100 {
		return l, ErrNoTime
	}
	// "host program[pid]: message", "program[pid]: message" or "program: message".
	first, after, _ := strings.Cut(rest, " ")
	if !strings.HasSuffix(first, ":") {
		l.Host = first
		first, after, _ = strings.Cut(after, " ")
	}
	prog := strings.TrimSuffix(first, ":")
	if i := strings.IndexByte(prog, '['); i > 0 {
		prog = prog[:i]
	}
	l.Program, l.Message = prog, after
	return l, nil
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// field returns the value of "name=value" up to ',' or a space, or of "name=<value>", in s; "" when absent.
func field(s, name string) string {
	for from := 0; ; {
		i := strings.Index(s[from:], name+"=")
		if i < 0 {
			return ""
		}
		i += from
		if i == 0 || s[i-1] == ' ' || s[i-1] == ',' || s[i-1] == '(' {
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
		from = i + 1
	}
}

// DovecotLogin is the outcome of a Dovecot login session as its log line tells it.
type DovecotLogin struct {
	User     string
	IP       netip.Addr
	Service  string // imap, pop3, submission or other
	Session  string
	Success  bool
	Attempts int // failed attempts of a failed session (at least 1)
}

// Dovecot parses a Dovecot login line: a successful "Login: user=<..>, ..., rip=..., session=<..>" or a failed
// "... (auth failed, N attempts in S secs): user=<..>, ..., rip=..., session=<..>". ok is false for other lines.
func Dovecot(l Line) (d DovecotLogin, ok bool) {
	msg := l.Message
	// The program is "dovecot" with the service first in the message ("imap-login: ..."), or the service itself.
	svc := l.Program
	if svc == "dovecot" {
		svc, msg, _ = strings.Cut(msg, ": ")
	}
	name, isLogin := strings.CutSuffix(svc, "-login")
	if !isLogin {
		return d, false
	}
	msg = strings.TrimPrefix(msg, "Info: ")
	switch {
	case strings.HasPrefix(msg, "Login: "):
		d.Success = true
	case strings.Contains(msg, "(auth failed, "):
		d.Attempts = 1
		_, after, _ := strings.Cut(msg, "(auth failed, ")
		if n, _, found := strings.Cut(after, " attempt"); found {
			if v, err := strconv.Atoi(n); err == nil && v > 0 {
				d.Attempts = v
			}
		}
	default:
		return d, false
	}
	d.User = field(msg, "user")
	ip, err := event.ParseIP(field(msg, "rip"))
	if d.User == "" || err != nil {
		return d, false
	}
	d.IP, d.Session, d.Service = ip, field(msg, "session"), dovecotService(name)
	return d, true
}

func dovecotService(s string) string {
	switch s {
	case "imap", "pop3", "submission":
		return s
	}
	return "other"
}

// SMTPAuthFailure is a failed SMTP AUTH that Postfix logged.
type SMTPAuthFailure struct {
	User    string
	IP      netip.Addr
	Service string // smtp or submission
}

// PostfixAuthFailure parses "warning: host[IP]: SASL PLAIN authentication failed: ..., sasl_username=alice".
func PostfixAuthFailure(l Line) (f SMTPAuthFailure, ok bool) {
	if !strings.HasPrefix(l.Program, "postfix") || !strings.HasPrefix(l.Message, "warning: ") || !strings.Contains(l.Message, " authentication failed") {
		return f, false
	}
	ip, err := bracketIP(l.Message)
	user := field(l.Message, "sasl_username")
	if err != nil || user == "" {
		return f, false
	}
	return SMTPAuthFailure{User: user, IP: ip, Service: postfixService(l.Program)}, true
}

// bracketIP returns the address in the first "host[IP]" of s.
func bracketIP(s string) (netip.Addr, error) {
	open := strings.IndexByte(s, '[')
	if open < 0 {
		return netip.Addr{}, errors.New("no [address]")
	}
	n := strings.IndexByte(s[open:], ']')
	if n < 0 {
		return netip.Addr{}, errors.New("no [address]")
	}
	return event.ParseIP(s[open+1 : open+n])
}

// postfixService tells submission (the submission and submissions services of master.cf) from smtp.
func postfixService(prog string) string {
	if strings.Contains(prog, "/submission") {
		return "submission"
	}
	return "smtp"
}

// Submission is the smtpd half of an authenticated submission: "QUEUEID: client=host[IP], sasl_method=..., sasl_username=u".
type Submission struct {
	QueueID, User, Service string
	IP                     netip.Addr
}

// PostfixClient parses the smtpd line of an authenticated submission.
func PostfixClient(l Line) (s Submission, ok bool) {
	if !strings.HasPrefix(l.Program, "postfix") || !strings.HasSuffix(l.Program, "/smtpd") {
		return s, false
	}
	qid, rest, found := strings.Cut(l.Message, ": client=")
	if !found || !validQueueID(qid) {
		return s, false
	}
	user := field(rest, "sasl_username")
	ip, err := bracketIP(rest)
	if user == "" || err != nil {
		return s, false
	}
	return Submission{QueueID: qid, User: user, IP: ip, Service: postfixService(l.Program)}, true
}

// Queued is the queue manager's line of a message: "QUEUEID: from=<...>, size=N, nrcpt=N (queue active)".
type Queued struct {
	QueueID    string
	Size       int64
	Recipients int
}

// PostfixQueued parses the queue manager's line of a message entering the active queue.
func PostfixQueued(l Line) (q Queued, ok bool) {
	if !strings.HasPrefix(l.Program, "postfix") || !strings.HasSuffix(l.Program, "/qmgr") {
		return q, false
	}
	qid, rest, found := strings.Cut(l.Message, ": from=")
	if !found || !validQueueID(qid) || !strings.HasSuffix(rest, "(queue active)") {
		return q, false
	}
	n, err := strconv.Atoi(field(rest, "nrcpt"))
	if err != nil || n < 1 || n > event.MaxRecipients {
		return q, false
	}
	size, err := strconv.ParseInt(field(rest, "size"), 10, 64)
	if err != nil || size < 0 || size > event.MaxSize {
		size = 0
	}
	return Queued{QueueID: qid, Size: size, Recipients: n}, true
}

// validQueueID accepts Postfix's short (hex) and long (base 52 with a 'z' or 'x' separator) queue ids.
func validQueueID(q string) bool {
	if len(q) < 5 || len(q) > 32 {
		return false
	}
	for i := 0; i < len(q); i++ {
		c := q[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}
