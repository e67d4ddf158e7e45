package dovecot

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"

	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/event"
)

// Allow is the body of an allow request: who is logging in and from where. Both may be empty (a client that has
// not sent a user name yet, a Dovecot without remote=%{rip} in its attributes); an empty one matches nothing.
type Allow struct {
	Login    string
	Remote   netip.Addr
	Protocol string // Dovecot's %s, lower-case: imap, pop3, smtp (SASL for Postfix), ...; may be empty
}

// ErrAllowBody is an allow body Vigil cannot read; the login is allowed all the same.
var ErrAllowBody = errors.New("allow body unreadable")

// ParseAllow decodes an allow body: a JSON object whose login and remote values are strings (other attributes are
// ignored). login is lower-cased and must be a user name of at most event.MaxUserLen printable bytes without
// spaces; remote must be an IP address. Errors wrap ErrAllowBody.
func ParseAllow(body []byte) (Allow, error) {
	var raw struct {
		Login    *string `json:"login"`
		Remote   *string `json:"remote"`
		Protocol *string `json:"protocol"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return Allow{}, fmt.Errorf("%w: %w", ErrAllowBody, err)
	}
	var a Allow
	if raw.Login != nil && *raw.Login != "" {
		u := *raw.Login
		if len(u) > event.MaxUserLen || strings.ContainsFunc(u, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) || r == unicode.ReplacementChar }) {
			return Allow{}, fmt.Errorf("%w: login is not a user name of at most %d printable bytes without spaces", ErrAllowBody, event.MaxUserLen)
		}
		a.Login = strings.ToLower(u)
	}
	if raw.Remote != nil && *raw.Remote != "" {
		ip, err := event.ParseIP(*raw.Remote)
		if err != nil {
			return Allow{}, fmt.Errorf("%w: remote: %w", ErrAllowBody, err)
		}
		a.Remote = ip
	}
	if raw.Protocol != nil {
		a.Protocol = Service(*raw.Protocol) // a bounded set: imap, pop3, smtp, submission, other
	}
	return a, nil
}

// Verdicts of allow requests (the verdict label of vigil_dovecot_verdicts_total).
const (
	verdictAllow      = "allow"       // no decision applies
	verdictBlock      = "block_login" // refused: a block_login decision on the user or the address
	verdictTarpit     = "tarpit"      // delayed: a tarpit decision on the address
	verdictNotReady   = "not_ready"   // allowed: the decisions are not loaded yet
	verdictUnreadable = "unreadable"  // allowed: the body could not be read
	verdictObserve    = "observe"     // allowed: this endpoint enforces nothing (no index)
)

// DefaultBlockMessage is what a refused client is told when its decision has no reason.
const DefaultBlockMessage = "Login refused by the mail provider's security team. Please contact support."

// allow answers an allow request from the decision index. A body that cannot be read, an index not yet loaded and
// an endpoint without an index all allow: enforcement may only refuse what it knows to refuse.
func (h *Handler) allow(body []byte) []byte {
	if h.opts.Decisions == nil {
		h.m.verdicts.WithLabelValues(verdictObserve).Inc()
		return allowed
	}
	select {
	case <-h.opts.Decisions.Ready():
	default:
		h.m.verdicts.WithLabelValues(verdictNotReady).Inc()
		return allowed
	}
	a, err := ParseAllow(body)
	if err != nil {
		h.m.verdicts.WithLabelValues(verdictUnreadable).Inc()
		h.logger.Warn("dovecot allow request unreadable; allowing the login", "err", clip(err.Error()))
		return allowed
	}
	now := h.opts.Now()
	d, ok := h.opts.Decisions.Match(a.Login, a.Remote, now, decision.BlockLogin, decision.Tarpit)
	if ok && d.Kind == decision.User && (a.Protocol == "smtp" || a.Protocol == "submission") {
		// SMTP AUTH of a user whose mail is held: let it authenticate, so its submissions land in the hold queue
		// (kept for review) instead of being refused and tried elsewhere; decisions on its network still apply.
		if _, held := h.opts.Decisions.Match(a.Login, netip.Addr{}, now, decision.HoldMail); held {
			d, ok = h.opts.Decisions.Match("", a.Remote, now, decision.BlockLogin, decision.Tarpit)
		}
	}
	if !ok {
		h.m.verdicts.WithLabelValues(verdictAllow).Inc()
		return allowed
	}
	switch d.Action {
	case decision.BlockLogin:
		h.m.verdicts.WithLabelValues(verdictBlock).Inc()
		msg := d.Reason
		if msg == "" {
			msg = h.opts.BlockMessage
		}
		return blockAnswer(msg)
	case decision.Tarpit:
		h.m.verdicts.WithLabelValues(verdictTarpit).Inc()
		return []byte(`{"status":` + strconv.Itoa(min(max(d.Delay, 1), decision.MaxDelay)) + "}\n")
	}
	h.m.verdicts.WithLabelValues(verdictAllow).Inc()
	return allowed
}

// blockAnswer is the reject answer; json.Marshal escapes whatever the message holds (decision.Normalise already
// refuses control characters in a reason).
func blockAnswer(msg string) []byte {
	b, err := json.Marshal(struct {
		Status int    `json:"status"`
		Msg    string `json:"msg"`
	}{-1, msg})
	if err != nil { // a struct of an int and a string always marshals
		return []byte(`{"status":-1}` + "\n")
	}
	return append(b, '\n')
}
