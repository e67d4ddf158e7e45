package respond

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/authapi"
	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/netset"
	"github.com/vigil-ids/vigil/internal/retry"
)

// maxIncidentBytes bounds an incident message; larger ones are terminated as invalid.
const maxIncidentBytes = 256 << 10

// horizon is how far back the responder remembers incidents: the longest combination window, at least a day.
func (r *Responder) horizon() time.Duration {
	h := 25 * time.Hour
	p := r.Policy()
	for _, rs := range append([][]Rule{p.Global()}, p.domainRules()...) {
		for _, x := range rs {
			h = max(h, x.Within+time.Hour)
		}
	}
	return h
}

// incidentsConsumer returns the durable consumer on VIGIL_INCIDENTS, creating it when missing. A new one starts an
// hour back, so incidents stored while the responder was first starting are decided, and a week of old ones is not.
func (r *Responder) incidentsConsumer(ctx context.Context) (jetstream.Consumer, error) {
	c, err := r.js.Consumer(ctx, natsbus.IncidentsStream, r.opts.Consumer)
	if err == nil {
		return c, nil // its start cannot change; it continues where it stopped
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("responder: incidents consumer: %w", err)
	}
	start := r.opts.Now().Add(-time.Hour)
	c, err = r.js.CreateConsumer(ctx, natsbus.IncidentsStream, jetstream.ConsumerConfig{
		Durable:       r.opts.Consumer,
		Description:   "Vigil responder: containment decisions from incidents",
		DeliverPolicy: jetstream.DeliverByStartTimePolicy,
		OptStartTime:  &start,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxDeliver:    -1,
		MaxAckPending: 1000,
	})
	if err != nil {
		return nil, fmt.Errorf("responder: incidents consumer: %w", err)
	}
	return c, nil
}

// consumeIncidents runs the durable consumer on VIGIL_INCIDENTS: every version is decided, its decisions stored,
// and only then acknowledged. A failure naks the message for a redelivery; the decisions' ids make that harmless.
func (r *Responder) consumeIncidents(ctx context.Context, c jetstream.Consumer) error {
	select { // decisions need every incident's review status
	case <-r.revCache.ready:
	case <-ctx.Done():
		return nil
	}
	reopen := func(ctx context.Context) (jetstream.Consumer, error) {
		if _, err := natsbus.EnsureIncidentsStream(ctx, r.js, r.opts.Replicas); err != nil {
			return nil, fmt.Errorf("responder: %w", err)
		}
		return r.incidentsConsumer(ctx)
	}
	return r.consume(ctx, c, 256, "fetch", "incidents consumer "+r.opts.Consumer, reopen, r.handleMsg)
}

// consume pulls c's messages into handle until ctx ends. After a failure (counted under errLabel, reported by
// Health under part) it opens the consumer again with reopen a second later, which recreates it when it was
// deleted, and continues.
func (r *Responder) consume(ctx context.Context, c jetstream.Consumer, batch int, errLabel, part string,
	reopen func(context.Context) (jetstream.Consumer, error), handle func(context.Context, jetstream.Msg)) error {
	var it jetstream.MessagesContext
	defer func() {
		if it != nil {
			it.Stop()
		}
	}()
	for {
		var err error
		if c == nil {
			c, err = reopen(ctx)
		}
		if err == nil && it == nil {
			// Pull requests of 5 s with heartbeats: a consumer deleted while no request was pending at the server
			// shows as a failed request or missed heartbeats within seconds, not after the default 30-s expiry.
			if it, err = c.Messages(jetstream.PullMaxMessages(batch), jetstream.PullExpiry(5*time.Second), jetstream.PullHeartbeat(2*time.Second)); err == nil {
				r.health.set(part, nil)
			}
		}
		var msg jetstream.Msg
		if err == nil {
			msg, err = it.Next(jetstream.NextContext(ctx))
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			r.m.errors.WithLabelValues(errLabel).Inc()
			r.health.set(part, err)
			r.logger.Warn("responder consumer failed; retrying", "consumer", errLabel, "err", err)
			if it != nil {
				it.Stop()
				it = nil
			}
			c = nil
			if !retry.Sleep(ctx, time.Second) {
				return nil
			}
			continue
		}
		handle(ctx, msg)
	}
}

func (r *Responder) handleMsg(ctx context.Context, msg jetstream.Msg) {
	inc, err := decodeIncident(msg.Data())
	if err != nil {
		r.m.incidents.WithLabelValues("invalid").Inc()
		r.logger.Warn("incident message unreadable; dropped", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	meta, err := msg.Metadata()
	if err != nil {
		r.logger.Warn("incident message without JetStream metadata; retrying", "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	if err := r.waitFed(ctx, meta.Sequence.Stream); err != nil {
		r.m.errors.WithLabelValues("feed").Inc()
		_ = msg.NakWithDelay(time.Second)
		return
	}
	if err := r.handle(ctx, &inc); err != nil {
		r.m.errors.WithLabelValues("decide").Inc()
		r.logger.Warn("incident not decided yet; retrying", "incident", inc.ID, "rule", inc.Rule, "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	r.m.latency.Observe(time.Since(meta.Timestamp).Seconds())
	if err := msg.Ack(); err != nil {
		r.logger.Debug("ack failed; the incident will be redelivered and its decisions found stored", "err", err)
	}
}

func decodeIncident(data []byte) (incident.Incident, error) {
	var inc incident.Incident
	if len(data) > maxIncidentBytes {
		return inc, fmt.Errorf("%d bytes: more than %d", len(data), maxIncidentBytes)
	}
	if err := json.Unmarshal(data, &inc); err != nil {
		return inc, err
	}
	if inc.ID == "" || len(inc.ID) > 64 || strings.Trim(inc.ID, "0123456789abcdef") != "" {
		return inc, fmt.Errorf("incident id %.70q: want hex digits", inc.ID)
	}
	if inc.User == "" && (inc.Addr == nil || inc.Addr.Key == "") {
		return inc, errors.New("incident names neither a user nor an address")
	}
	return inc, nil
}

// handle decides one incident version.
func (r *Responder) handle(ctx context.Context, inc *incident.Incident) error {
	now := r.opts.Now()
	s, ok := r.recent.get(inc.ID)
	if !ok { // evicted meanwhile (a very old redelivery): its own version is all there is
		s = seen{id: inc.ID, rule: string(inc.Rule), user: inc.User, lastSeen: inc.LastSeen, firstLast: inc.LastSeen, ips: inc.IPs}
	}
	if r.revCache.resolved(inc.ID) {
		r.m.incidents.WithLabelValues("resolved").Inc()
		return nil
	}
	plans, err := r.plan(ctx, r.Policy(), inc, s, now) // one policy for the whole version, even if a reload swaps it meanwhile
	if err != nil {
		return err
	}
	created := false
	for _, p := range plans {
		if _, done := r.made[p.d.ID]; done {
			continue
		}
		if r.trusted(&p.d) {
			continue
		}
		d, isNew, err := r.store.Put(ctx, p.d)
		if errors.Is(err, decision.ErrInvalid) {
			r.logger.Warn("policy decision invalid; skipped", "incident", inc.ID, "rule", inc.Rule, "action", p.d.Action, "err", err)
			continue
		}
		if err != nil {
			return err
		}
		r.made[d.ID] = d.ExpiresAt
		r.pruneMade(now)
		if !isNew {
			continue // a kick stored before is the kick worker's, whether it happened yet or not
		}
		created = true
		r.count(&d)
		r.audit(decisionAudit(&d, now))
		if d.Action == decision.Kick && d.Active(now) {
			r.kick(d)
		}
	}
	if len(plans) == 0 {
		r.m.incidents.WithLabelValues("nothing").Inc()
	} else {
		r.m.incidents.WithLabelValues("decided").Inc()
	}
	if created {
		// A review stored while these decisions were written found nothing to lift; look again.
		if rev, err := r.review(ctx, inc.ID); err == nil && rev != nil && lifts(rev) {
			r.liftIncident(ctx, rev)
		}
	}
	return nil
}

func (r *Responder) count(d *decision.Decision) {
	if d.Observe {
		r.m.would.WithLabelValues(d.Rule, string(d.Action)).Inc()
	} else {
		r.m.decisions.WithLabelValues(d.Rule, string(d.Action)).Inc()
	}
}

// review returns an incident's current review, or nil.
func (r *Responder) review(ctx context.Context, id string) (*authapi.Review, error) {
	e, err := r.reviews.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read review of %s: %w", id, err)
	}
	return authapi.DecodeReview(e)
}

// plan is one decision the policy asks for.
type plan struct {
	d decision.Decision
}

// plan applies the policy to an incident version.
func (r *Responder) plan(ctx context.Context, pol *Policy, inc *incident.Incident, s seen, now time.Time) ([]plan, error) {
	var out []plan
	add := func(rule *Rule, kind decision.Kind, subject, domain string, actions []decision.Action, ips []string, related []string, cause string) {
		for _, a := range actions {
			d := decision.Decision{Kind: kind, Subject: subject, Domain: domain, Action: a, IncidentID: inc.ID, Rule: rule.Label(),
				IPs: limitIPs(ips), Related: related, Reason: rule.Reason, Observe: rule.Mode == Observe, CreatedBy: decision.System,
				CreatedAt: now, ExpiresAt: now.Add(rule.Duration)}
			if a == decision.Tarpit {
				d.Delay = rule.TarpitDelay
			}
			if cause != "" { // a combination: one decision for the set of incidents, whichever completes it
				if d.Observe {
					cause = "observe:" + cause
				}
				d.ID = decision.ID(kind, strings.ToLower(subject), a, cause)
			}
			out = append(out, plan{d: d})
		}
	}
	rule := string(inc.Rule)
	if inc.User != "" {
		for _, x := range pol.For(inc.Domain) {
			if x.Target != TargetUser || !slices.Contains(x.Rules, rule) {
				continue
			}
			if !x.Combination() {
				add(&x, decision.User, inc.User, inc.Domain, x.Actions, inc.IPs, nil, "")
				continue
			}
			ids, ips, ok, err := r.combination(ctx, &x, inc, s)
			if err != nil {
				return nil, err
			}
			if ok {
				related := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == inc.ID })
				add(&x, decision.User, inc.User, inc.Domain, x.Actions, ips, related, "combination:"+x.Name+":"+strings.Join(ids, ","))
			}
		}
		return out, nil
	}
	prefix, err := netset.ParsePrefix(inc.Addr.Key)
	if err != nil {
		r.logger.Warn("address-keyed incident with a bad key; no decision", "incident", inc.ID, "err", err)
		return nil, nil
	}
	for _, x := range pol.Global() {
		if x.Target != TargetNetwork || !slices.Contains(x.Rules, rule) {
			continue
		}
		actions := x.Actions
		if x.Then != nil && inc.LastSeen.Sub(s.firstLast) >= time.Duration(x.Then.After) {
			actions = append(slices.Clone(actions), x.Then.Actions...)
		}
		add(&x, decision.Network, prefix.String(), "", actions, inc.IPs, nil, "")
	}
	for _, victim := range inc.Addr.Victims {
		domain := ""
		if i := strings.LastIndexByte(victim, '@'); i >= 0 {
			domain = strings.ToLower(victim[i+1:])
		}
		for _, x := range pol.For(domain) {
			if x.Target != TargetVictims || !slices.Contains(x.Rules, rule) {
				continue
			}
			add(&x, decision.User, victim, domain, x.Actions, inc.IPs, nil, "")
		}
	}
	return out, nil
}

// combination reports whether the user has, besides inc, an unresolved incident of every other rule of x within
// its window; it returns the incident ids (sorted) and their addresses.
func (r *Responder) combination(ctx context.Context, x *Rule, inc *incident.Incident, s seen) (ids, ips []string, ok bool, err error) {
	ids, ips = []string{inc.ID}, slices.Clone(inc.IPs)
	for _, other := range x.Rules {
		if other == string(inc.Rule) {
			continue
		}
		found := false
		for _, p := range r.recent.partners(inc.User, other, s.lastSeen, x.Within) {
			if r.revCache.resolved(p.id) {
				continue
			}
			ids, ips, found = append(ids, p.id), append(ips, p.ips...), true
			break
		}
		if !found {
			return nil, nil, false, nil
		}
	}
	slices.Sort(ids)
	slices.Sort(ips)
	return ids, slices.Compact(ips), true, nil
}

func limitIPs(ips []string) []string {
	if len(ips) > 64 {
		return ips[:64]
	}
	return ips
}

// pruneMade forgets expired decision ids, at most once a minute.
func (r *Responder) pruneMade(now time.Time) {
	if now.Sub(r.madePruned) < time.Minute {
		return
	}
	r.madePruned = now
	for id, exp := range r.made {
		if exp.Before(now) {
			delete(r.made, id)
		}
	}
}
