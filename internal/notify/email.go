package notify

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/natsbus"
)

// EmailOptions configures the e-mail sink.
type EmailOptions struct {
	Relay      string   // SMTP relay host:port
	From       string   // sender address
	To         []string // the digest's recipients (the operators); may be empty when only Owner mails are wanted
	Username   string   // optional SMTP AUTH PLAIN (only over TLS, or to a relay on localhost)
	Password   string
	StartTLS   string        // auto (default), always or never
	TLSConfig  *tls.Config   // nil: the system roots, verifying the relay's host name
	Digest     time.Duration // at most one digest this often; default 15m
	Owner      bool          // also mail the mailbox owner "was this you?" with the logins of a new incident
	ConsoleURL string        // links in the digest; "" leaves them out
}

// DefaultDigest is the shortest interval between two digests.
const DefaultDigest = 15 * time.Minute

// DigestBucket keeps the events waiting for the next digest (key: event id) and the time of the last one, so a
// restart neither loses nor repeats a digest line.
const DigestBucket = "vigil_notify_digest"

// lastSentKey is the digest bucket's record of the last digest; event ids always contain a dot, this key none.
const lastSentKey = "last-sent"

// maxDigestLines bounds one digest; the rest waits for the next.
const maxDigestLines = 500

// OwnerRules are the rules whose new incidents ask the mailbox owner "was this you?": rules about the owner's own
// successful logins (not failures, which an attacker causes, and not sending volume).
var OwnerRules = []incident.Rule{"multi_country", "impossible_travel", "new_country"}

// Login is one login as the owner mail lists it: never a password, a hash or a session token.
type Login struct {
	Time    time.Time
	Country string
	IP      string
	Service string
	Success bool
}

// LoginSource answers a user's logins in a time range (the ClickHouse history).
type LoginSource interface {
	Logins(ctx context.Context, user string, from, to time.Time) ([]Login, error)
}

func (o *EmailOptions) validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(o.Relay); err != nil {
		errs = append(errs, fmt.Errorf("smtp relay %.80q: want host:port", o.Relay))
	}
	if !validAddress(o.From) {
		errs = append(errs, fmt.Errorf("mail sender %.80q: want a bare address", o.From))
	}
	for _, a := range o.To {
		if !validAddress(a) {
			errs = append(errs, fmt.Errorf("mail recipient %.80q: want a bare address", a))
		}
	}
	if len(o.To) == 0 && !o.Owner {
		errs = append(errs, errors.New("mail: neither digest recipients nor owner mails configured"))
	}
	if o.StartTLS != "" && o.StartTLS != StartTLSAuto && o.StartTLS != StartTLSAlways && o.StartTLS != StartTLSNever {
		errs = append(errs, fmt.Errorf("smtp starttls %.20q: auto, always or never", o.StartTLS))
	}
	if o.Digest < 0 || (o.Digest > 0 && o.Digest < time.Second) || o.Digest > 24*time.Hour {
		errs = append(errs, fmt.Errorf("mail digest interval %s: 1s-24h", o.Digest))
	}
	if o.ConsoleURL != "" {
		if err := checkURL(o.ConsoleURL); err != nil {
			errs = append(errs, fmt.Errorf("console %w", err))
		}
	}
	return errors.Join(errs...)
}

type email struct {
	o      EmailOptions
	kv     jetstream.KeyValue
	mail   *mailer
	logins LoginSource
	now    func() time.Time
	m      *metrics
	logger *slog.Logger
}

func newEmail(ctx context.Context, js jetstream.JetStream, o EmailOptions, common *Options, logins LoginSource, m *metrics, logger *slog.Logger) (*email, error) {
	if o.Digest == 0 {
		o.Digest = DefaultDigest
	}
	if o.StartTLS == "" {
		o.StartTLS = StartTLSAuto
	}
	o.ConsoleURL = strings.TrimRight(o.ConsoleURL, "/")
	kv, err := openBucket(ctx, js, DigestBucket, "Vigil notifications: events waiting for the next e-mail digest", 0, common.Replicas)
	if err != nil {
		return nil, err
	}
	return &email{o: o, kv: kv, logins: logins, now: common.Now, m: m, logger: logger,
		mail: &mailer{addr: o.Relay, from: o.From, user: o.Username, password: o.Password, starttls: o.StartTLS, tlsConfig: o.TLSConfig, now: common.Now}}, nil
}

func (m *email) Name() string      { return "email" }
func (m *email) Sources() []Source { return []Source{Incidents, Reviews, Decisions} }

// Deliver queues the event for the digest and, for a new incident of an OwnerRules rule, mails its owner.
func (m *email) Deliver(ctx context.Context, e *Event) error {
	if len(m.o.To) > 0 {
		if _, err := m.kv.Put(ctx, e.ID, e.body()); err != nil {
			return fmt.Errorf("queue digest line: %w", err)
		}
	}
	if inc := e.incident; m.o.Owner && e.Type == IncidentOpened && slices.Contains(OwnerRules, inc.Rule) && validAddress(inc.User) {
		subject, body, err := m.ownerMail(ctx, inc)
		if err != nil {
			return err
		}
		if err := m.mail.send(ctx, []string{inc.User}, subject, body); err != nil {
			m.m.mails.WithLabelValues("owner", "failed").Inc()
			return err
		}
		m.m.mails.WithLabelValues("owner", "sent").Inc()
	}
	return nil
}

// ownerMail is the "was this you?" message: the incident's logins with their times, countries, addresses and
// services, from the login history when there is one, otherwise from the incident's evidence.
func (m *email) ownerMail(ctx context.Context, inc *incident.Incident) (subject, body string, err error) {
	var b strings.Builder
	fmt.Fprintf(&b, "Hello,\n\nwe noticed sign-ins to your mailbox %s that look unusual", inc.User)
	if len(inc.Countries) > 0 {
		fmt.Fprintf(&b, " (from %s)", strings.Join(inc.Countries, ", "))
	}
	b.WriteString(". Was this you?\n\n")
	var logins []Login
	if m.logins != nil {
		if logins, err = m.logins.Logins(ctx, inc.User, inc.FirstSeen, inc.LastSeen.Add(time.Second)); err != nil {
			return "", "", fmt.Errorf("owner mail logins: %w", err)
		}
	}
	if len(logins) > 0 {
		b.WriteString("time (UTC)            country  address                                   service\n")
		for _, l := range logins {
			if !l.Success {
				continue
			}
			fmt.Fprintf(&b, "%-21s %-8s %-41s %s\n", l.Time.UTC().Format("2006-01-02 15:04:05"), or(l.Country, "--"), l.IP, l.Service)
		}
	} else {
		for _, c := range inc.Detail {
			fmt.Fprintf(&b, "%s: %d sign-ins between %s and %s UTC from %s\n", c.Country, c.Logins,
				c.FirstSeen.UTC().Format("2006-01-02 15:04"), c.LastSeen.UTC().Format("2006-01-02 15:04"), strings.Join(c.IPs, ", "))
		}
		if t := inc.Travel; t != nil {
			fmt.Fprintf(&b, "%s from %s (%s), then %s from %s (%s)\n", t.From.Time.UTC().Format("2006-01-02 15:04"), t.From.IP, t.From.Country,
				t.To.Time.UTC().Format("2006-01-02 15:04"), t.To.IP, t.To.Country)
		}
		if len(inc.Detail) == 0 && inc.Travel == nil && len(inc.IPs) > 0 {
			fmt.Fprintf(&b, "between %s and %s UTC from %s\n", inc.FirstSeen.UTC().Format("2006-01-02 15:04"), inc.LastSeen.UTC().Format("2006-01-02 15:04"), strings.Join(inc.IPs, ", "))
		}
	}
	b.WriteString("\nIf these were you (travelling, a phone, a mail app), nothing needs doing. If not, change your password now\n" +
		"and contact your mail provider's support. This message never asks for your password: do not reply with it.\n")
	return "Was this you? New sign-ins to " + inc.User, b.String(), nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// run sends a digest whenever events wait and the last one is at least Digest old.
func (m *email) run(ctx context.Context) error {
	if len(m.o.To) == 0 {
		<-ctx.Done()
		return nil
	}
	tick := min(max(m.o.Digest/4, 100*time.Millisecond), 10*time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := m.digest(ctx); err != nil && ctx.Err() == nil {
				m.m.mails.WithLabelValues("digest", "failed").Inc()
				m.logger.Warn("notification digest not sent; trying again", "err", err)
			}
		}
	}
}

// digest sends one digest when it is due.
func (m *email) digest(ctx context.Context) error {
	now := m.now()
	var lastRev uint64 // revision of the last-sent record; 0 when there is none
	var lastValue []byte
	if e, err := m.kv.Get(ctx, lastSentKey); err == nil {
		var last time.Time
		if last.UnmarshalText(e.Value()) == nil && now.Sub(last) < m.o.Digest {
			return nil
		}
		lastRev, lastValue = e.Revision(), e.Value()
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("read last digest: %w", err)
	}
	keys, err := m.kv.ListKeys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		m.m.pending.Set(0)
		return nil
	}
	if err != nil {
		return fmt.Errorf("list digest: %w", err)
	}
	var events []*Event
	var ids []string
	for k := range keys.Keys() {
		if k == lastSentKey {
			continue
		}
		ids = append(ids, k)
	}
	m.m.pending.Set(float64(len(ids)))
	if len(ids) == 0 {
		return nil
	}
	for _, k := range ids {
		e, err := m.kv.Get(ctx, k)
		if err != nil {
			continue // deleted meanwhile
		}
		ev, err := parseEvent(e.Value())
		if err != nil {
			m.logger.Warn("digest line unreadable; dropped", "id", k, "err", err)
			m.kv.Delete(ctx, k)
			continue
		}
		events = append(events, ev)
	}
	slices.SortFunc(events, func(a, b *Event) int { return cmpEvents(a, b) })
	if len(events) > maxDigestLines {
		events = events[:maxDigestLines]
	}
	if len(events) == 0 {
		return nil
	}
	// Claim this digest by compare-and-set on the last-sent record, so that of several notifiers (auth API replicas)
	// one sends it; a failed send hands the claim back, so the next tick tries again.
	stamp, _ := now.UTC().MarshalText()
	var rev uint64
	if lastRev == 0 {
		rev, err = m.kv.Create(ctx, lastSentKey, stamp)
	} else {
		rev, err = m.kv.Update(ctx, lastSentKey, stamp, lastRev)
	}
	if natsbus.IsKVConflict(err) {
		return nil // another notifier sends this one
	}
	if err != nil {
		return fmt.Errorf("record digest: %w", err)
	}
	subject, body := m.digestMail(events, len(ids))
	if err := m.mail.send(ctx, m.o.To, subject, body); err != nil {
		if lastRev == 0 {
			m.kv.Delete(ctx, lastSentKey, jetstream.LastRevision(rev))
		} else {
			m.kv.Update(ctx, lastSentKey, lastValue, rev)
		}
		return err
	}
	m.m.mails.WithLabelValues("digest", "sent").Inc()
	for _, e := range events {
		if err := m.kv.Delete(ctx, e.ID); err != nil {
			return fmt.Errorf("clear digest line: %w", err) // it is mailed again next time: at least once
		}
	}
	m.m.pending.Set(float64(len(ids) - len(events)))
	return nil
}

func cmpEvents(a, b *Event) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// parseEvent reads an envelope back with its typed payload.
func parseEvent(data []byte) (*Event, error) {
	var e Event
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, err
	}
	var err error
	switch e.Type {
	case IncidentOpened, IncidentUpdated:
		e.incident = new(incident.Incident)
		err = json.Unmarshal(e.Payload, e.incident)
	case IncidentReviewed:
		e.review = new(Review)
		err = json.Unmarshal(e.Payload, e.review)
	case DecisionAdded, DecisionLifted:
		e.decision = new(decision.Decision)
		err = json.Unmarshal(e.Payload, e.decision)
	default:
		err = fmt.Errorf("unknown event type %.40q", e.Type)
	}
	return &e, err
}

// digestMail renders the digest: one line per event, oldest first.
func (m *email) digestMail(events []*Event, total int) (subject, body string) {
	counts := map[string]int{}
	var b strings.Builder
	fmt.Fprintf(&b, "Vigil: %d change(s) since the last digest.\n\n", total)
	for _, e := range events {
		when := e.Time.UTC().Format("2006-01-02 15:04:05")
		switch {
		case e.incident != nil:
			counts["incident"]++
			inc := e.incident
			verb := "opened"
			if e.Type == IncidentUpdated {
				verb = fmt.Sprintf("updated (version %d)", inc.Version)
			}
			fmt.Fprintf(&b, "%s  incident %s: %s %s", when, verb, inc.Rule, inc.Key())
			if len(inc.Countries) > 0 {
				fmt.Fprintf(&b, ", countries %s", strings.Join(inc.Countries, " "))
			}
			if n := len(inc.IPs); n > 0 {
				fmt.Fprintf(&b, ", %d address(es) like %s", n, inc.IPs[0])
			}
			b.WriteString(m.link(inc.ID))
		case e.review != nil:
			counts["review"]++
			r := e.review
			fmt.Fprintf(&b, "%s  incident %s by %s", when, r.Status, r.By)
			if r.Reason != "" {
				fmt.Fprintf(&b, " (%s)", r.Reason)
			}
			b.WriteString(m.link(r.IncidentID))
		case e.decision != nil:
			counts["decision"]++
			d := e.decision
			mode := ""
			if d.Observe {
				mode = " (observe mode: not enforced)"
			}
			if e.Type == DecisionLifted {
				fmt.Fprintf(&b, "%s  decision lifted: %s on %s by %s: %s", when, d.Action, d.Subject, d.LiftedBy, d.LiftReason)
			} else {
				fmt.Fprintf(&b, "%s  decision added%s: %s on %s until %s: %s", when, mode, d.Action, d.Subject, d.ExpiresAt.UTC().Format("2006-01-02 15:04"), d.Reason)
			}
			if d.IncidentID != "" {
				b.WriteString(m.link(d.IncidentID))
			}
		}
		b.WriteString("\n")
	}
	if total > len(events) {
		fmt.Fprintf(&b, "\n… and %d more in the next digest.\n", total-len(events))
	}
	var parts []string
	for _, k := range []string{"incident", "review", "decision"} {
		if n := counts[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s(s)", n, k))
		}
	}
	return "Vigil digest: " + strings.Join(parts, ", "), b.String()
}

func (m *email) link(id string) string {
	if m.o.ConsoleURL == "" {
		return ""
	}
	return "\n    " + m.o.ConsoleURL + "/console/incidents/" + id
}
