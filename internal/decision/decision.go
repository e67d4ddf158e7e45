// Package decision defines containment decisions (an action on a user or a network, with its cause, reason and
// expiry), stores them in a NATS KV bucket and keeps an in-memory index of the ones in force.
//
// Record format: bucket vigil_decisions (configurable), one key per decision, the decision's id (32 lower-case hex
// digits); the value is the Decision as JSON:
//
//	{"id":"9f86d081884c7d659a2feaa0c55ad015","kind":"user","subject":"alice@example.org","domain":"example.org",
//	 "action":"hold_mail","incident_id":"…","rule":"send_volume","reason":"account sends for a spammer",
//	 "created_by":"vigil","created_at":"2026-12-02T09:30:00Z","expires_at":"2026-12-03T09:30:00Z"}
//
// A lifted decision keeps its key with lifted_at, lifted_by and lift_reason set, so watchers and notifications see
// who lifted it and why; expired and lifted records are deleted later by the store's janitor.
package decision

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/netset"
)

// Action is what a decision makes the mail servers do.
type Action string

// The actions. HoldMail and DeferMail apply to a user's authenticated submissions (Postfix policy), BlockLogin to a
// user's or a network's logins (Dovecot auth policy), Tarpit delays a network's logins, Kick ends a user's live
// IMAP/POP3 sessions once (doveadm HTTP API).
const (
	HoldMail   Action = "hold_mail"
	DeferMail  Action = "defer_mail"
	BlockLogin Action = "block_login"
	Tarpit     Action = "tarpit"
	Kick       Action = "kick"
)

// Actions lists every action in a stable order.
var Actions = []Action{HoldMail, DeferMail, BlockLogin, Tarpit, Kick}

// Kind is what a decision's subject is.
type Kind string

// The subject kinds.
const (
	User    Kind = "user"    // Subject is a lower-case user name, as events carry it
	Network Kind = "network" // Subject is a canonical CIDR prefix; a single address is a /32 or /128
)

// ActionsFor lists the actions that make sense for a subject kind.
func ActionsFor(k Kind) []Action {
	switch k {
	case User:
		return []Action{HoldMail, DeferMail, BlockLogin, Kick}
	case Network:
		return []Action{BlockLogin, Tarpit}
	}
	return nil
}

// Limits of a decision's fields.
const (
	MaxReasonLen  = 200                 // bytes; the reason is shown to the mail client (Dovecot msg, Postfix text)
	MaxDuration   = 30 * 24 * time.Hour // the longest a decision may stay in force
	DefaultExpiry = 24 * time.Hour      // when a decision names no expiry
	MaxDelay      = 15                  // seconds of tarpit; Dovecot holds an auth connection that long
	MaxByLen      = 128                 // bytes of created_by / lifted_by
	MaxRelated    = 8                   // related incidents of a combination decision
	// MinBits4 and MinBits6 bound a network subject's width: a decision on a wider range would lock out too many.
	MinBits4 = 16
	MinBits6 = 32
)

// System is the created_by and lifted_by of what Vigil does by itself (policy, review, trusted range).
const System = "vigil"

// Decision is one action on one subject, in force from CreatedAt until ExpiresAt unless lifted.
type Decision struct {
	ID         string   `json:"id"`
	Kind       Kind     `json:"kind"`
	Subject    string   `json:"subject"`
	Domain     string   `json:"domain,omitempty"` // the user's domain; empty for networks
	Action     Action   `json:"action"`
	Delay      int      `json:"delay_seconds,omitempty"` // tarpit only: seconds, 1..MaxDelay
	IncidentID string   `json:"incident_id,omitempty"`   // the incident that caused it; empty for an admin's own
	Rule       string   `json:"rule,omitempty"`          // the incident's rule
	IPs        []string `json:"ips,omitempty"`           // the cause's client addresses, for lifting by trusted range
	// Related lists the other incidents of a combination (a policy entry naming several rules); resolving any of
	// them lifts the decision like resolving IncidentID.
	Related []string `json:"related_incidents,omitempty"`
	Reason  string   `json:"reason"`
	// Observe marks what the policy would have done in observe mode: stored and shown, never enforced.
	Observe    bool      `json:"observe,omitempty"`
	CreatedBy  string    `json:"created_by"` // System or the admin's username
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	LiftedAt   time.Time `json:"lifted_at,omitzero"`
	LiftedBy   string    `json:"lifted_by,omitempty"`
	LiftReason string    `json:"lift_reason,omitempty"`
	Revision   uint64    `json:"revision,omitempty"` // the KV revision it was read at; not stored
}

// ErrInvalid wraps every validation error.
var ErrInvalid = errors.New("invalid decision")

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
}

// ID derives a decision's id from what makes it unique: its subject, its action and its cause (an incident id, or
// for an admin's decision a unique string such as the creation time), so a redelivered incident yields the same key.
func ID(kind Kind, subject string, action Action, cause string) string {
	h := sha256.New()
	for _, s := range []string{string(kind), subject, string(action), cause} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Normalise validates d and canonicalises its subject, fills Domain for a user, CreatedAt (now) and ExpiresAt
// (DefaultExpiry later) when zero, and the id when empty. Errors wrap ErrInvalid and name the field.
func (d *Decision) Normalise(now time.Time) error {
	switch d.Kind {
	case User:
		u := strings.ToLower(strings.TrimSpace(d.Subject))
		if u == "" || len(u) > event.MaxUserLen || strings.ContainsFunc(u, unicode.IsSpace) || !printable(u) {
			return invalid("subject", "a user name of 1-%d printable bytes without spaces", event.MaxUserLen)
		}
		d.Subject = u
		if d.Domain == "" {
			if i := strings.LastIndexByte(u, '@'); i >= 0 {
				d.Domain = u[i+1:]
			}
		}
		d.Domain = strings.ToLower(d.Domain)
		if len(d.Domain) > event.MaxDomainLen || !printable(d.Domain) {
			return invalid("domain", "at most %d printable bytes", event.MaxDomainLen)
		}
	case Network:
		p, err := netset.ParsePrefix(d.Subject)
		if err != nil {
			return invalid("subject", "%v", err)
		}
		if (p.Addr().Is4() && p.Bits() < MinBits4) || (p.Addr().Is6() && p.Bits() < MinBits6) {
			return invalid("subject", "%s is wider than /%d (IPv4) or /%d (IPv6)", p, MinBits4, MinBits6)
		}
		d.Subject, d.Domain = p.String(), ""
	default:
		return invalid("kind", "must be user or network, not %.20q", d.Kind)
	}
	if !slices.Contains(ActionsFor(d.Kind), d.Action) {
		return invalid("action", "a %s decision takes one of %s, not %.20q", d.Kind, joinActions(ActionsFor(d.Kind)), d.Action)
	}
	switch {
	case d.Action == Tarpit && (d.Delay < 1 || d.Delay > MaxDelay):
		return invalid("delay_seconds", "a tarpit needs 1-%d seconds", MaxDelay)
	case d.Action != Tarpit && d.Delay != 0:
		return invalid("delay_seconds", "only a tarpit takes a delay")
	}
	if err := checkText("reason", d.Reason, MaxReasonLen); err != nil {
		return err
	}
	if err := checkText("created_by", d.CreatedBy, MaxByLen); err != nil {
		return err
	}
	if d.CreatedBy == "" {
		return invalid("created_by", "required")
	}
	if len(d.IncidentID) > 64 || !isHex(d.IncidentID) {
		return invalid("incident_id", "at most 64 hex digits")
	}
	if len(d.Related) > MaxRelated {
		return invalid("related_incidents", "at most %d", MaxRelated)
	}
	for _, id := range d.Related {
		if id == "" || len(id) > 64 || !isHex(id) {
			return invalid("related_incidents", "incident ids of 1-64 hex digits")
		}
	}
	if len(d.Rule) > 64 || !printable(d.Rule) {
		return invalid("rule", "at most 64 printable bytes")
	}
	if len(d.IPs) > 64 {
		d.IPs = d.IPs[:64]
	}
	for _, ip := range d.IPs {
		if _, err := netip.ParseAddr(ip); err != nil {
			return invalid("ips", "%.50q is not an address", ip)
		}
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = now
	}
	d.CreatedAt = d.CreatedAt.UTC().Truncate(time.Second)
	if d.ExpiresAt.IsZero() {
		d.ExpiresAt = d.CreatedAt.Add(DefaultExpiry)
	}
	d.ExpiresAt = d.ExpiresAt.UTC().Truncate(time.Second)
	switch {
	case !d.ExpiresAt.After(d.CreatedAt):
		return invalid("expires_at", "must be after created_at")
	case d.ExpiresAt.Sub(d.CreatedAt) > MaxDuration:
		return invalid("expires_at", "at most %s after created_at", MaxDuration)
	}
	if d.ID == "" {
		cause := d.IncidentID
		if cause == "" {
			cause = d.CreatedBy + "@" + d.CreatedAt.Format(time.RFC3339Nano)
		}
		if d.Observe {
			cause = "observe:" + cause
		}
		d.ID = ID(d.Kind, d.Subject, d.Action, cause)
	}
	if len(d.ID) != 32 || !isHex(d.ID) {
		return invalid("id", "32 lower-case hex digits")
	}
	return nil
}

// Active reports whether d is in force at now: enforced (not Observe), not lifted and not expired.
func (d *Decision) Active(now time.Time) bool {
	return !d.Observe && d.LiftedAt.IsZero() && now.Before(d.ExpiresAt)
}

// Lifted reports whether an admin or Vigil lifted d.
func (d *Decision) Lifted() bool { return !d.LiftedAt.IsZero() }

// CheckLiftReason validates the reason given when lifting a decision.
func CheckLiftReason(s string) error { return checkText("lift_reason", s, MaxReasonLen) }

// checkText accepts up to max bytes of printable UTF-8 without control characters: the reason becomes a Dovecot
// JSON message and a Postfix policy answer line, where a line break would inject protocol.
func checkText(field, s string, max int) error {
	if len(s) > max {
		return invalid(field, "at most %d bytes", max)
	}
	if !printable(s) {
		return invalid(field, "printable text only, no line breaks or control characters")
	}
	return nil
}

func printable(s string) bool {
	for _, r := range s {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) && r != ' ' {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func joinActions(as []Action) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}
