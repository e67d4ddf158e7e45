package postfix

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/decision"
)

// HeldMessage is a message the policy service told Postfix to hold (action=HOLD): it waits in Postfix's hold queue
// on the mail host until an admin releases it (postsuper -H) or deletes it (postsuper -d).
type HeldMessage struct {
	QueueID        string     // Postfix's queue id on the reporting host; empty if Postfix sent none
	Instance       string     // Postfix's instance attribute, unique per message and smtpd process
	User           string     // the authenticated sender (sasl_username), lower-case
	Sender         string     // the envelope sender (MAIL FROM); may be empty (bounces)
	RecipientCount int        // recipients of the message
	Size           int64      // bytes
	ClientAddress  netip.Addr // the submitting client; invalid if Postfix sent none
	Source         string     // the reporting server (Options.Source or the policy client's address)
	Time           time.Time  // when the policy service answered HOLD
	DecisionID     string     // the hold_mail decision that held it
	IncidentID     string     // that decision's incident; empty for an admin's own decision
	Reason         string     // the reason given to Postfix
}

// HoldRecorder is told of every message the policy service holds. Held runs on the connection's goroutine after
// the answer is sent, so it must return quickly (queue the record and return); it cannot stop the hold.
type HoldRecorder interface {
	Held(ctx context.Context, m HeldMessage)
}

// Verdicts at END-OF-MESSAGE of an authenticated sender (the verdict label of vigil_postfix_verdicts_total).
const (
	verdictDunno    = "dunno"      // no decision applies
	verdictHold     = "hold_mail"  // action=HOLD: the message waits in the hold queue
	verdictDefer    = "defer_mail" // a 4xx: the client must try again later
	verdictNotReady = "not_ready"  // DUNNO: the decisions are not loaded yet
	verdictObserve  = "observe"    // DUNNO: this server enforces nothing (no index)
)

// Texts of the answers when a decision has no reason.
const (
	DefaultHoldText  = "held for review by the mail provider's security team"
	DefaultDeferText = "sending suspended by the mail provider's security team, try again later"
)

// DeferCode is the reply to a deferred message: a plain access(5) reply code, which Postfix applies at
// END-OF-MESSAGE (DEFER_IF_PERMIT there would wait for a later permit that never comes).
const DeferCode = "451 4.7.1"

// verdict is the answer to req: DUNNO, or a decision's HOLD or 4xx. held is the decision of a hold.
func (s *Server) verdict(req Request) (answer []byte, held *decision.Decision) {
	if req["request"] != "smtpd_access_policy" || req["protocol_state"] != "END-OF-MESSAGE" || req["sasl_username"] == "" {
		return dunno, nil
	}
	x := s.opts.Decisions
	if x == nil {
		s.m.verdicts.WithLabelValues(verdictObserve).Inc()
		return dunno, nil
	}
	select {
	case <-x.Ready():
	default:
		s.m.verdicts.WithLabelValues(verdictNotReady).Inc()
		return dunno, nil
	}
	d, ok := x.Match(req["sasl_username"], netip.Addr{}, s.opts.Now(), decision.DeferMail, decision.HoldMail)
	if !ok {
		s.m.verdicts.WithLabelValues(verdictDunno).Inc()
		return dunno, nil
	}
	switch d.Action {
	case decision.DeferMail:
		s.m.verdicts.WithLabelValues(verdictDefer).Inc()
		return []byte("action=" + DeferCode + " " + replyText(d.Reason, DefaultDeferText) + "\n\n"), nil
	case decision.HoldMail:
		s.m.verdicts.WithLabelValues(verdictHold).Inc()
		return []byte("action=HOLD " + replyText(d.Reason, DefaultHoldText) + "\n\n"), &d
	}
	s.m.verdicts.WithLabelValues(verdictDunno).Inc()
	return dunno, nil
}

// replyText makes a reason safe on one policy answer line that may reach the SMTP client: printable ASCII only
// (decision.Normalise already refuses line breaks; other characters become '?').
func replyText(reason, fallback string) string {
	if reason == "" {
		reason = fallback
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, reason)
}

// heldMessage describes the message req, held by d.
func heldMessage(req Request, d *decision.Decision, source string, now time.Time) HeldMessage {
	m := HeldMessage{
		QueueID: req["queue_id"], Instance: req["instance"], User: strings.ToLower(req["sasl_username"]), Sender: req["sender"],
		Source: source, Time: now.UTC(), DecisionID: d.ID, IncidentID: d.IncidentID, Reason: replyText(d.Reason, DefaultHoldText),
	}
	m.RecipientCount, _ = strconv.Atoi(req["recipient_count"])
	m.Size, _ = strconv.ParseInt(req["size"], 10, 64)
	if ip, err := netip.ParseAddr(req["client_address"]); err == nil {
		m.ClientAddress = ip.Unmap()
	}
	return m
}
