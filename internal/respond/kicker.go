package respond

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/authapi"
	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/natsbus"
)

// Kick outcomes, in a kick record and in vigil_responder_kicks_total.
const (
	KickDone      = "kicked"    // doveadm kicked the user's sessions
	KickAbandoned = "abandoned" // the decision was lifted or expired before an attempt succeeded
)

// AuditKick is the audit action of a kick decision's outcome, recorded once per decision.
const AuditKick = "decision_kick"

// kickTimeout bounds one doveadm call (or the KickLease, when shorter).
const kickTimeout = 10 * time.Second

// kickPoll is how often the kick worker looks for kick decisions due.
const kickPoll = 500 * time.Millisecond

// kickRecord is how far carrying out one kick decision got. It is stored in the kicks bucket under the decision's
// id and written only by compare-and-set, so of several responders one at a time attempts it.
type kickRecord struct {
	Attempts int `json:"attempts"`
	// NotBefore is when the next attempt may start: the lease of the responder attempting it now, or the backoff
	// after a failed attempt.
	NotBefore time.Time `json:"not_before,omitzero"`
	By        string    `json:"by,omitempty"` // the responder instance of the latest attempt
	LastError string    `json:"last_error,omitempty"`
	Outcome   string    `json:"outcome,omitempty"` // KickDone or KickAbandoned; empty while attempts go on
	At        time.Time `json:"at,omitzero"`       // when the outcome was recorded
}

// KicksBucket names the bucket of kick records after the decisions bucket (vigil_decisions_kicks by default).
func KicksBucket(decisions string) string { return decisions + "_kicks" }

// openKicks opens (creating when missing) the kicks bucket. Its records outlive every decision record they belong
// to: a decision lasts at most decision.MaxDuration and is kept a week after.
func openKicks(ctx context.Context, js jetstream.JetStream, name string, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, Description: "Vigil: how far each kick decision was carried out",
			History: 1, TTL: decision.MaxDuration + 14*24*time.Hour, Replicas: replicas, Storage: jetstream.FileStorage})
	}
	if err != nil {
		return nil, fmt.Errorf("kicks bucket %s: %w", name, err)
	}
	return kv, nil
}

// kick wakes the kick worker for a new kick decision; without a kicker it only counts it.
func (r *Responder) kick(d decision.Decision) {
	if r.opts.Kicker == nil {
		r.m.kicks.WithLabelValues("unconfigured").Inc()
		return
	}
	r.logger.Debug("kick decision stored", "decision", d.ID)
	select {
	case r.kickWake <- struct{}{}:
	default:
	}
}

// kickWorker carries out every enforced kick decision in force that has no outcome yet — policy or admin made,
// stored before a restart or just now — and records the outcome of each once it succeeded or the decision ended.
func (r *Responder) kickWorker(ctx context.Context) error {
	if r.opts.Kicker == nil {
		<-ctx.Done()
		return nil
	}
	next := map[string]time.Time{} // decision id -> when to look at it again; the zero time: settled
	tick := time.NewTicker(kickPoll)
	defer tick.Stop()
	for {
		seen := map[string]bool{}
		for _, d := range r.index.Select(func(d *decision.Decision) bool { return d.Action == decision.Kick && !d.Observe }) {
			seen[d.ID] = true
			at, ok := next[d.ID]
			if ok && (at.IsZero() || r.opts.Now().Before(at)) {
				continue
			}
			next[d.ID] = r.kickOne(ctx, d)
			if ctx.Err() != nil {
				return nil
			}
		}
		for id := range next {
			if !seen[id] {
				delete(next, id)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-r.kickWake:
		}
	}
}

// kickOne moves one kick decision on by at most one attempt and returns when to look at it again (the zero time
// once it is settled).
func (r *Responder) kickOne(ctx context.Context, d decision.Decision) time.Time {
	now := r.opts.Now()
	rec, rev, err := r.kickRecord(ctx, d.ID)
	if err != nil {
		r.m.errors.WithLabelValues("kick_record").Inc()
		r.logger.Warn("kick record unreadable; retrying", "decision", d.ID, "err", err)
		return now.Add(time.Second)
	}
	if rec.Outcome != "" {
		return time.Time{}
	}
	if !d.Active(now) {
		if rev == 0 { // never attempted (lifted or expired at once, or before kicks were recorded): nothing to report
			return time.Time{}
		}
		rec.Outcome, rec.At, rec.NotBefore = KickAbandoned, now.UTC(), time.Time{}
		if _, err := r.putKick(ctx, d.ID, rec, rev); err != nil {
			return now // a conflict or NATS trouble: read it again
		}
		r.m.kicks.WithLabelValues(KickAbandoned).Inc()
		r.audit(kickAudit(&d, &rec, "failure"))
		r.logger.Warn("kick abandoned: the decision ended before doveadm answered", "decision", d.ID, "attempts", rec.Attempts, "err", rec.LastError)
		return time.Time{}
	}
	if now.Before(rec.NotBefore) {
		return rec.NotBefore // another responder's attempt, or the backoff after a failure
	}
	// Claim the attempt: of several responders reading this revision, one writes the next.
	rec.Attempts++
	rec.NotBefore, rec.By = now.Add(r.opts.KickLease), r.instance
	if rev, err = r.putKick(ctx, d.ID, rec, rev); err != nil {
		return now.Add(kickPoll)
	}
	kctx, cancel := context.WithTimeout(ctx, min(kickTimeout, r.opts.KickLease))
	kerr := r.opts.Kicker.Kick(kctx, d.Subject)
	cancel()
	if ctx.Err() != nil {
		return time.Time{} // stopping: the lease runs out and a responder tries again
	}
	now = r.opts.Now()
	if kerr != nil {
		r.m.attempts.WithLabelValues("failed").Inc()
		wait := r.kickBackoff(rec.Attempts)
		rec.NotBefore, rec.LastError = now.Add(wait), truncate(kerr.Error(), 200)
		r.logger.Warn("kick failed; retrying (the login block still applies)", "decision", d.ID, "attempt", rec.Attempts, "retry_in", wait, "err", kerr)
		if _, err := r.putKick(ctx, d.ID, rec, rev); err != nil {
			return now.Add(kickPoll)
		}
		return rec.NotBefore
	}
	r.m.attempts.WithLabelValues("ok").Inc()
	rec.Outcome, rec.At, rec.NotBefore, rec.LastError = KickDone, now.UTC(), time.Time{}, ""
	for range 3 {
		if _, err = r.putKick(ctx, d.ID, rec, rev); err == nil {
			break
		}
		cur, crev, gerr := r.kickRecord(ctx, d.ID)
		if gerr == nil && cur.Outcome != "" {
			// Another responder recorded an outcome meanwhile: the kick, after this one's lease ran out, or the
			// decision's end (lifted during this attempt); that outcome stays, audited once.
			r.logger.Info("user's live sessions kicked; the outcome was recorded by another responder", "decision", d.ID, "outcome", cur.Outcome)
			return time.Time{}
		}
		rev = crev
	}
	if err != nil {
		return now // kicked, not recorded: the next attempt kicks again, which is harmless
	}
	r.m.kicks.WithLabelValues("ok").Inc()
	r.audit(kickAudit(&d, &rec, "success"))
	r.logger.Info("user's live sessions kicked", "decision", d.ID, "incident", d.IncidentID, "attempts", rec.Attempts)
	return time.Time{}
}

// kickBackoff is the wait after the n-th failed attempt: KickRetry, doubling, at most KickRetryMax.
func (r *Responder) kickBackoff(n int) time.Duration {
	w := r.opts.KickRetry
	for i := 1; i < n && w < r.opts.KickRetryMax; i++ {
		w *= 2
	}
	return min(w, r.opts.KickRetryMax)
}

// kickRecord reads a decision's kick record; revision 0 when it has none.
func (r *Responder) kickRecord(ctx context.Context, id string) (kickRecord, uint64, error) {
	var rec kickRecord
	e, err := r.kicksKV.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return rec, 0, nil
	}
	if err != nil {
		return rec, 0, fmt.Errorf("read kick record %s: %w", id, err)
	}
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return rec, 0, fmt.Errorf("kick record %s: %w", id, err)
	}
	return rec, e.Revision(), nil
}

// putKick writes a kick record if it is still at revision rev (0: absent) and returns the new revision.
func (r *Responder) putKick(ctx context.Context, id string, rec kickRecord, rev uint64) (uint64, error) {
	data, err := json.Marshal(rec)
	if err != nil {
		return 0, err
	}
	if rev == 0 {
		rev, err = r.kicksKV.Create(ctx, id, data)
	} else {
		rev, err = r.kicksKV.Update(ctx, id, data, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || natsbus.IsKVConflict(err) {
		r.logger.Debug("kick record changed by another responder", "decision", id)
		return 0, err
	}
	if err != nil {
		r.m.errors.WithLabelValues("kick_record").Inc()
		r.logger.Warn("kick record not written; retrying", "decision", id, "err", err)
		return 0, err
	}
	return rev, nil
}

// kickAudit is the record of a kick decision's outcome; its event id derives from the decision's, so it is one row.
func kickAudit(d *decision.Decision, rec *kickRecord, result string) authapi.AuditRecord {
	after, _ := json.Marshal(rec)
	return authapi.AuditRecord{EventID: "decision-" + d.ID + "-kick", Time: rec.At, Action: AuditKick, Actor: decision.System,
		Target: d.ID, Result: result, After: string(after)}
}
