package maillog

import (
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// MaxPending bounds the submissions waiting for their queue manager line.
const MaxPending = 100000

// Parser turns log lines into events, joining Postfix's smtpd and qmgr lines of one message. Not safe for
// concurrent use.
type Parser struct {
	Dovecot, Postfix bool // which servers' lines to read
	Loc              *time.Location
	Now              func() time.Time
	pending          map[string]Submission
	order            []string
}

// NewParser returns a Parser for the given format: auto (both), dovecot or postfix.
func NewParser(format string) *Parser {
	return &Parser{Dovecot: format != "postfix", Postfix: format != "dovecot", Loc: time.Local, Now: time.Now, pending: map[string]Submission{}}
}

// Line parses one line. It returns an event, or the reason the line gave none.
func (p *Parser) Line(s string) (event.Event, string) {
	if len(s) > MaxLine {
		return event.Event{}, SkipTooLong
	}
	now := p.Now()
	l, err := SplitLine(s, now, p.Loc)
	if err != nil {
		return event.Event{}, SkipNoTime
	}
	var (
		e  event.Event
		ok bool
	)
	switch {
	case p.Dovecot && (l.Program == "dovecot" || len(l.Program) > 6 && l.Program[len(l.Program)-6:] == "-login"):
		e, ok = Dovecot(l)
	case p.Postfix && len(l.Program) > 8 && l.Program[:8] == "postfix/":
		if e, ok = PostfixAuthFailure(l); ok {
			break
		}
		if sub, found := PostfixClient(l); found {
			p.remember(sub)
			return event.Event{}, SkipIrrelevant
		}
		qid, size, rcpts, found := PostfixQueued(l)
		if !found {
			return event.Event{}, SkipIrrelevant
		}
		sub, known := p.pending[qid]
		if !known {
			return event.Event{}, SkipIrrelevant // not an authenticated submission, or its smtpd line was not read
		}
		delete(p.pending, qid)
		ip, err := event.ParseIP(sub.IP)
		if err != nil {
			return event.Event{}, SkipInvalid
		}
		e = event.Event{ID: "postfix:" + qid, Kind: event.KindSend, Time: sub.Time, User: sub.User, IP: ip, Service: sub.Service,
			Recipients: rcpts, Size: size, MessageID: qid}
		ok = true
	}
	if !ok {
		return event.Event{}, SkipIrrelevant
	}
	e, err = event.New(e, now)
	if err != nil {
		return event.Event{}, SkipInvalid
	}
	return e, ""
}

func (p *Parser) remember(s Submission) {
	if _, ok := p.pending[s.QueueID]; !ok {
		p.order = append(p.order, s.QueueID)
	}
	p.pending[s.QueueID] = s
	for len(p.pending) > MaxPending {
		delete(p.pending, p.order[0])
		p.order = p.order[1:]
	}
	if len(p.order) > 2*MaxPending { // drop ids already joined
		kept := p.order[:0]
		for _, q := range p.order {
			if _, ok := p.pending[q]; ok {
				kept = append(kept, q)
			}
		}
		p.order = kept
	}
}
