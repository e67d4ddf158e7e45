package respond

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
	"go4.org/netipx"

	"github.com/vigil-ids/vigil/internal/authapi"
	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/netset"
	"github.com/vigil-ids/vigil/internal/retry"
)

// LiftingReasons are the resolutions that lift an incident's decisions: the incident was harmless. A compromised
// account (or "other") keeps them.
var LiftingReasons = []string{"false_positive", "user_travelling", "mobile_connection", "third_party_app"}

// liftTimeout bounds the lifts and the quarantine release of one review; a review not done by then is retried.
const liftTimeout = 15 * time.Second

func lifts(r *authapi.Review) bool {
	return r.Status == authapi.StatusResolved && slices.Contains(LiftingReasons, r.Reason)
}

// reviewsConsumer creates the durable consumer on the reviews bucket's stream; a new one reads every review
// stored so far.
func (r *Responder) reviewsConsumer(ctx context.Context) (jetstream.Consumer, error) {
	c, err := r.js.CreateOrUpdateConsumer(ctx, "KV_"+authapi.ReviewsBucket, jetstream.ConsumerConfig{
		Durable:       r.opts.ReviewConsumer,
		Description:   "Vigil responder: lift decisions of incidents resolved as harmless",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       20 * time.Second, // > liftTimeout
		MaxDeliver:    -1,
	})
	if err != nil {
		return nil, fmt.Errorf("responder: reviews consumer: %w", err)
	}
	return c, nil
}

// consumeReviews runs a durable consumer on the reviews bucket's own stream, so a review stored while the
// responder was down is acted on when it starts. A failed lift naks the record for a redelivery; lifting twice is
// harmless.
func (r *Responder) consumeReviews(ctx context.Context, c jetstream.Consumer) error {
	reopen := func(ctx context.Context) (jetstream.Consumer, error) {
		if _, err := authapi.OpenReviews(ctx, r.js, r.opts.Replicas); err != nil {
			return nil, fmt.Errorf("responder: %w", err)
		}
		return r.reviewsConsumer(ctx)
	}
	return r.consume(ctx, c, 64, "reviews", "reviews consumer "+r.opts.ReviewConsumer, reopen, r.handleReview)
}

// handleReview lifts the decisions of an incident resolved as benign and acknowledges the record.
func (r *Responder) handleReview(ctx context.Context, msg jetstream.Msg) {
	if op := msg.Headers().Get("KV-Operation"); op != "" { // DEL or PURGE: nothing to act on
		_ = msg.Ack()
		return
	}
	rev, err := authapi.ParseReview(msg.Data())
	if err != nil || len(rev.IncidentID) > 64 {
		r.m.reviewsSeen.WithLabelValues("invalid").Inc()
		r.logger.Warn("review record unreadable; ignored", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	r.logger.Debug("review record", "incident", rev.IncidentID, "status", rev.Status, "reason", rev.Reason)
	if !lifts(rev) {
		r.m.reviewsSeen.WithLabelValues("none").Inc()
		_ = msg.Ack()
		return
	}
	lctx, cancel := context.WithTimeout(ctx, liftTimeout)
	err = r.liftIncident(lctx, rev)
	cancel()
	if err != nil {
		r.m.errors.WithLabelValues("lift").Inc()
		r.logger.Warn("decisions of a resolved incident not lifted yet; retrying", "incident", rev.IncidentID, "err", err)
		_ = msg.NakWithDelay(2 * time.Second)
		return
	}
	r.m.reviewsSeen.WithLabelValues("lift").Inc()
	_ = msg.Ack()
}

// liftIncident lifts every decision the reviewed incident caused and asks the quarantine to release its held mail.
func (r *Responder) liftIncident(ctx context.Context, rev *authapi.Review) error {
	by := rev.By
	if by == "" || len(by) > decision.MaxByLen || !utf8.ValidString(by) {
		by = decision.System
	}
	reason := truncate(fmt.Sprintf("incident resolved as %s by %s", rev.Reason, by), decision.MaxReasonLen)
	caused := r.index.Select(func(d *decision.Decision) bool { return d.CausedBy(rev.IncidentID) })
	r.logger.Debug("lifting an incident's decisions", "incident", rev.IncidentID, "decisions", len(caused))
	// Held messages are recorded under their hold decision's incident (the Postfix answer's), which for a
	// combination may be another incident than the one reviewed.
	var held []string
	for _, d := range caused {
		if d.Action == decision.HoldMail && !d.Observe && !slices.Contains(held, d.IncidentID) {
			held = append(held, d.IncidentID)
		}
		if d.Lifted() {
			continue
		}
		if err := r.lift(ctx, d, by, reason, "review"); err != nil {
			return err
		}
	}
	for _, id := range held {
		if r.opts.Quarantine == nil {
			break
		}
		if err := r.opts.Quarantine.ReleaseIncident(ctx, id, by); err != nil {
			r.m.released.WithLabelValues("failed").Inc()
			return fmt.Errorf("release held mail: %w", err)
		}
		r.m.released.WithLabelValues("ok").Inc()
	}
	return nil
}

// lift lifts one decision and audits it; a decision lifted or purged meanwhile is no error.
func (r *Responder) lift(ctx context.Context, d decision.Decision, by, reason, cause string) error {
	lifted, err := r.store.Lift(ctx, d.ID, by, reason)
	if errors.Is(err, decision.ErrLifted) || errors.Is(err, decision.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	r.m.lifts.WithLabelValues(cause).Inc()
	r.audit(liftAudit(&d, &lifted, by))
	r.logger.Info("decision lifted", "decision", d.ID, "action", d.Action, "kind", d.Kind, "cause", cause)
	return nil
}

// trustState is the trusted networks as the responder last read them.
type trustState struct {
	set    *netset.Set
	global *netipx.IPSet
	list   []netset.Entry
}

var emptyTrust = &trustState{set: netset.NewSet(nil), global: &netipx.IPSet{}}

func (r *Responder) trustNow() *trustState {
	if t := r.trustCache.Load(); t != nil {
		return t
	}
	return emptyTrust
}

// trusted reports whether the trusted networks cover a decision: a network inside a global range, or a user
// decision whose cause addresses are all trusted for that user.
func (r *Responder) trusted(d *decision.Decision) bool {
	return covering(r.trustNow(), d) != nil
}

// covering returns a trusted range that covers the decision (one of them, for the lift's reason), or nil.
func covering(t *trustState, d *decision.Decision) *netset.Entry {
	switch d.Kind {
	case decision.Network:
		p, err := netip.ParsePrefix(d.Subject)
		if err != nil || !t.global.ContainsPrefix(p) {
			return nil
		}
		for i, e := range t.list {
			if e.Scope == netset.ScopeGlobal && e.Prefix.Overlaps(p) {
				return &t.list[i]
			}
		}
	case decision.User:
		if len(d.IPs) == 0 {
			return nil
		}
		var first *netset.Entry
		for _, s := range d.IPs {
			ip, err := netip.ParseAddr(s)
			if err != nil || !t.set.Trusted(d.Subject, d.Domain, ip) {
				return nil
			}
			if first == nil {
				for i, e := range t.list {
					if e.Prefix.Contains(ip) && (e.Scope == netset.ScopeGlobal || e.Scope == netset.ScopeDomain && e.Subject == d.Domain ||
						e.Scope == netset.ScopeUser && e.Subject == d.Subject) {
						first = &t.list[i]
						break
					}
				}
			}
		}
		return first
	}
	return nil
}

// watchTrust lifts, at start and after every change of the trusted networks, the policy decisions they cover.
func (r *Responder) watchTrust(ctx context.Context) error {
	if r.trustW == nil {
		<-ctx.Done()
		return nil
	}
	var last *netset.Set
	tick := time.NewTicker(r.opts.TrustPoll)
	defer tick.Stop()
	backoff := retry.Backoff{Max: 10 * time.Second}
	for {
		if cur := r.trustW.Set(); cur != last {
			if err := r.reconcileTrust(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				r.m.errors.WithLabelValues("trust").Inc()
				r.logger.Warn("trusted networks not applied to decisions yet; retrying", "err", err)
				if !retry.Sleep(ctx, backoff.Next()) {
					return nil
				}
				continue
			}
			last, backoff = cur, retry.Backoff{Max: 10 * time.Second}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// reconcileTrust reads the trusted networks and lifts every policy decision (one with an incident) they cover.
func (r *Responder) reconcileTrust(ctx context.Context) error {
	list, err := r.trust.List(ctx)
	if err != nil {
		return err
	}
	var b netipx.IPSetBuilder
	for _, e := range list {
		if e.Scope == netset.ScopeGlobal {
			b.AddPrefix(e.Prefix)
		}
	}
	global, err := b.IPSet()
	if err != nil {
		return err
	}
	t := &trustState{set: netset.NewSet(list), global: global, list: list}
	r.trustCache.Store(t)
	now := r.opts.Now()
	for _, d := range r.index.Select(func(d *decision.Decision) bool {
		return d.IncidentID != "" && !d.Lifted() && now.Before(d.ExpiresAt)
	}) {
		e := covering(t, &d)
		if e == nil {
			continue
		}
		by := e.CreatedBy
		if by == "" || len(by) > decision.MaxByLen {
			by = decision.System
		}
		reason := truncate(fmt.Sprintf("%s marked trusted (%s)", e.Prefix, e.Description), decision.MaxReasonLen)
		if err := r.lift(ctx, d, by, reason, "trusted_range"); err != nil {
			return err
		}
	}
	return nil
}

// janitor deletes lifted and expired decisions past their retention, every PurgeInterval.
func (r *Responder) janitor(ctx context.Context) error {
	tick := time.NewTicker(r.opts.PurgeInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			n, err := r.store.Purge(ctx)
			r.m.purged.Add(float64(n))
			if err != nil && ctx.Err() == nil {
				r.m.errors.WithLabelValues("purge").Inc()
				r.logger.Warn("purging old decisions failed; next try at the next interval", "err", err)
			}
		}
	}
}

// truncate makes s a valid lift reason: control characters become spaces, and it is cut to at most n bytes on a
// rune boundary.
func truncate(s string, n int) string {
	s = strings.Map(func(c rune) rune {
		if c == utf8.RuneError || !unicode.IsPrint(c) {
			return ' '
		}
		return c
	}, s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
