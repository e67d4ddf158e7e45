package maillog

import (
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/mailid"
)

// Skip reasons reported in the summary.
const (
	SkipIrrelevant = "irrelevant"   // not a login, a failed SMTP AUTH or a submission
	SkipNoTime     = "no_timestamp" // no syslog or RFC 3339 timestamp
	SkipInvalid    = "invalid"      // a relevant line whose content breaks the event schema
	SkipTooLong    = "too_long"     // longer than MaxLine
)

// MaxPending bounds the submissions waiting for their queue manager line.
const MaxPending = 100000

// Parser turns log lines into events, joining Postfix's smtpd and qmgr lines of one message. Not safe for
// concurrent use.
type Parser struct {
	Dovecot, Postfix bool // which servers' lines to read
	SkipSMTPAuth     bool // ignore Postfix's failed SMTP AUTH lines (Dovecot's policy endpoint reports them)
	Loc              *time.Location
	Now              func() time.Time
	pending          map[string]Submission
	order            []string
	out              []event.Event
}

// NewParser returns a Parser for the given format: auto (Dovecot and Postfix), dovecot or postfix.
func NewParser(format string) *Parser {
	return &Parser{Dovecot: format != "postfix", Postfix: format != "dovecot", Loc: time.Local, Now: time.Now, pending: map[string]Submission{}}
}

// Line parses one line into its events — usually one; a failed Dovecot session gives one per attempt — or the
// reason it gave none. The slice is valid until the next call.
func (p *Parser) Line(s string) ([]event.Event, string) {
	p.out = p.out[:0]
	if len(s) > MaxLine {
		return nil, SkipTooLong
	}
	now := p.Now()
	l, err := SplitLine(s, now, p.Loc)
	if err != nil {
		return nil, SkipNoTime
	}
	switch {
	case p.Dovecot && isDovecot(l.Program):
		d, ok := Dovecot(l)
		if !ok {
			return nil, SkipIrrelevant
		}
		e := event.Event{Kind: event.KindLogin, Time: l.Time, User: d.User, IP: d.IP, Service: d.Service, Success: d.Success, Session: d.Session, Source: l.Host}
		n := 1
		if !d.Success && d.Session != "" {
			n = min(d.Attempts, mailid.MaxAttempts)
		}
		for i := 1; i <= n; i++ {
			e.ID = mailid.Login(d.Session, d.Success, i)
			if !p.add(e, now) {
				return nil, SkipInvalid
			}
		}
	case p.Postfix && len(l.Program) > 7 && l.Program[:7] == "postfix":
		if f, ok := PostfixAuthFailure(l); ok {
			if p.SkipSMTPAuth {
				return nil, SkipIrrelevant
			}
			if !p.add(event.Event{Kind: event.KindLogin, Time: l.Time, User: f.User, IP: f.IP, Service: f.Service, Source: l.Host}, now) {
				return nil, SkipInvalid
			}
			break
		}
		if sub, ok := PostfixClient(l); ok {
			p.remember(sub)
			return nil, SkipIrrelevant
		}
		q, ok := PostfixQueued(l)
		if !ok {
			return nil, SkipIrrelevant
		}
		sub, known := p.pending[q.QueueID]
		if !known {
			return nil, SkipIrrelevant // not an authenticated submission, or its smtpd line was not read
		}
		delete(p.pending, q.QueueID)
		e := event.Event{ID: mailid.Message(q.QueueID, ""), Kind: event.KindSend, Time: l.Time, User: sub.User, IP: sub.IP, Service: sub.Service,
			Recipients: q.Recipients, Size: q.Size, MessageID: q.QueueID, Source: l.Host}
		if !p.add(e, now) {
			return nil, SkipInvalid
		}
	default:
		return nil, SkipIrrelevant
	}
	return p.out, ""
}

func isDovecot(prog string) bool {
	return prog == "dovecot" || len(prog) > 6 && prog[len(prog)-6:] == "-login"
}

// add validates an event and appends it to the output.
func (p *Parser) add(e event.Event, now time.Time) bool {
	e, err := event.New(e, now)
	if err != nil {
		return false
	}
	p.out = append(p.out, e)
	return true
}

// remember keeps a submission until its queue manager line, forgetting the oldest beyond MaxPending.
func (p *Parser) remember(s Submission) {
	if p.pending == nil {
		p.pending = map[string]Submission{}
	}
	if _, ok := p.pending[s.QueueID]; !ok {
		p.order = append(p.order, s.QueueID)
	}
	p.pending[s.QueueID] = s
	for len(p.pending) > MaxPending {
		delete(p.pending, p.order[0])
		p.order = p.order[1:]
	}
	if len(p.order) > 2*MaxPending { // drop the ids already joined
		kept := p.order[:0]
		for _, q := range p.order {
			if _, ok := p.pending[q]; ok {
				kept = append(kept, q)
			}
		}
		p.order = kept
	}
}
