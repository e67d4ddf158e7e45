package quarantine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/retry"
)

// Store is the ClickHouse side of the manager (*chstore.Store).
type Store interface {
	WriteHeld(ctx context.Context, rows []chstore.HeldRow) error
	HeldOfIncident(ctx context.Context, incidentID string) ([]chstore.HeldRow, error)
	HeldMessage(ctx context.Context, host, queueID string) (chstore.HeldRow, bool, error)
}

// AuditFunc records an action the manager takes or learns of: a release of ReleaseIncident, an agent's result.
type AuditFunc func(action, actor, target, result, detail string)

// ManagerOptions configures the manager.
type ManagerOptions struct {
	Replicas int
	Now      func() time.Time
	Audit    AuditFunc // nil: not audited
}

// Manager is the auth API's side of the quarantine: it stores held records and results in ClickHouse and sends
// release and delete commands to the mail hosts.
type Manager struct {
	js      jetstream.JetStream
	store   Store
	opts    ManagerOptions
	logger  *slog.Logger
	records *prometheus.CounterVec
	cmds    *prometheus.CounterVec
	ensured atomic.Bool // the streams exist (Request makes sure once, so it works before Run got there)
}

// Errors of Request.
var (
	ErrFinal   = errors.New("the message is already released or deleted")
	ErrUnknown = errors.New("no such held message")
)

// NewManager returns a manager; Run consumes the quarantine stream.
func NewManager(js jetstream.JetStream, store Store, o ManagerOptions, logger *slog.Logger, reg prometheus.Registerer) *Manager {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Audit == nil {
		o.Audit = func(string, string, string, string, string) {}
	}
	f := promauto.With(reg)
	return &Manager{js: js, store: store, opts: o, logger: logger,
		records: f.NewCounterVec(prometheus.CounterOpts{Name: "vigil_quarantine_records_total",
			Help: "Quarantine records the auth API consumed, by kind (held, result) and result (stored, invalid)."}, []string{"kind", "result"}),
		cmds: f.NewCounterVec(prometheus.CounterOpts{Name: "vigil_quarantine_commands_total",
			Help: "Release and delete commands sent to mail hosts, by action."}, []string{"action"}),
	}
}

// Held returns the held messages of an incident.
func (m *Manager) Held(ctx context.Context, incidentID string) ([]chstore.HeldRow, error) {
	return m.store.HeldOfIncident(ctx, incidentID)
}

// Message returns one held message.
func (m *Manager) Message(ctx context.Context, host, queueID string) (chstore.HeldRow, bool, error) {
	return m.store.HeldMessage(ctx, host, queueID)
}

// Request sends a release or delete command for a held message to its host's agent and records the request
// (release_requested, delete_requested). A message already released or deleted is refused with ErrFinal; a failed
// or pending one may be asked again (the agent finds it no longer held if an earlier command got there first).
func (m *Manager) Request(ctx context.Context, row chstore.HeldRow, action, by string) (chstore.HeldRow, error) {
	if row.Status == chstore.HeldReleased || row.Status == chstore.HeldDeleted {
		return row, ErrFinal
	}
	now := m.opts.Now().UTC()
	cmd := Command{ID: newID(), Action: action, Host: row.Host, QueueID: row.QueueID, By: by, At: now}
	if err := cmd.Validate(); err != nil {
		return row, err
	}
	data, _ := json.Marshal(cmd)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if !m.ensured.Load() {
		if err := EnsureStreams(pctx, m.js, m.opts.Replicas); err != nil {
			return row, err
		}
		m.ensured.Store(true)
	}
	if _, err := m.js.Publish(pctx, CommandSubject(cmd.Host), data, jetstream.WithMsgID(cmd.ID)); err != nil {
		return row, fmt.Errorf("send %s command: %w", action, err)
	}
	m.cmds.WithLabelValues(action).Inc()
	next := row
	next.Status, next.Actor, next.ChangedAt, next.Detail = chstore.HeldReleaseRequested, by, now.Truncate(time.Second), ""
	if action == ActionDelete {
		next.Status = chstore.HeldDeleteRequested
	}
	next.Version = max(uint64(now.UnixNano()), row.Version+1)
	if err := m.store.WriteHeld(ctx, []chstore.HeldRow{next}); err != nil {
		return row, fmt.Errorf("record %s request (the command is sent): %w", action, err)
	}
	return next, nil
}

// ReleaseIncident releases every message held for an incident that is not already released or deleted (the
// responder calls it when the incident is resolved as a false positive). Each release is audited with by as the
// actor; the first error is returned after every message was tried.
func (m *Manager) ReleaseIncident(ctx context.Context, incidentID, by string) error {
	rows, err := m.store.HeldOfIncident(ctx, incidentID)
	if err != nil {
		return fmt.Errorf("held messages of incident %s: %w", incidentID, err)
	}
	var errs []error
	for _, r := range rows {
		if r.Status == chstore.HeldReleased || r.Status == chstore.HeldDeleted || r.Status == chstore.HeldReleaseRequested {
			continue
		}
		before, _ := json.Marshal(r)
		next, err := m.Request(ctx, r, ActionRelease, by)
		if err != nil {
			errs = append(errs, err)
			m.opts.Audit("held_release", by, r.Host+"/"+r.QueueID, "failure", err.Error())
			continue
		}
		after, _ := json.Marshal(next)
		m.opts.Audit("held_release", by, r.Host+"/"+r.QueueID, "success", string(before)+" -> "+string(after))
	}
	return errors.Join(errs...)
}

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Run consumes held records and agents' results until ctx is cancelled, writing them to ClickHouse and
// acknowledging them only after the write; after an error it restarts with a backoff.
func (m *Manager) Run(ctx context.Context) error {
	var backoff retry.Backoff
	for {
		err := m.consume(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := backoff.Next()
		m.logger.Warn("quarantine consumer stopped; restarting", "err", err, "retry_in", wait)
		sleep(ctx, wait)
	}
}

func (m *Manager) consume(ctx context.Context) error {
	if err := EnsureStreams(ctx, m.js, m.opts.Replicas); err != nil {
		return err
	}
	m.ensured.Store(true)
	c, err := m.js.CreateOrUpdateConsumer(ctx, Stream, jetstream.ConsumerConfig{Durable: ManagerConsumer, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: time.Minute, MaxDeliver: -1, MaxAckPending: 1000, Description: "Vigil auth API: held messages and results into ClickHouse"})
	if err != nil {
		return fmt.Errorf("quarantine consumer: %w", err)
	}
	msgs := make(chan jetstream.Msg, 1000)
	cc, err := c.Consume(func(msg jetstream.Msg) { msgs <- msg }, jetstream.PullMaxMessages(500))
	if err != nil {
		return fmt.Errorf("quarantine consumer: %w", err)
	}
	defer cc.Stop()
	for {
		var batch []jetstream.Msg
		select {
		case <-ctx.Done():
			return nil
		case msg := <-msgs:
			batch = append(batch, msg)
		}
	more:
		for len(batch) < 500 {
			select {
			case msg := <-msgs:
				batch = append(batch, msg)
			default:
				break more
			}
		}
		if err := m.store1(context.WithoutCancel(ctx), batch); err != nil {
			for _, msg := range batch {
				msg.NakWithDelay(time.Second)
			}
			return err
		}
	}
}

// store1 writes one batch and acknowledges it.
func (m *Manager) store1(ctx context.Context, msgs []jetstream.Msg) error {
	var rows []chstore.HeldRow
	type audit struct{ action, actor, target, result, detail string }
	var audits []audit
	var ok []jetstream.Msg
	for _, msg := range msgs {
		switch subj := msg.Subject(); {
		case strings.HasPrefix(subj, HeldPrefix):
			h, err := DecodeHeld(msg.Data())
			if err != nil {
				m.records.WithLabelValues("held", "invalid").Inc()
				m.logger.Warn("held record refused", "subject", subj, "err", err)
				msg.Term()
				continue
			}
			rows = append(rows, heldRow(h))
			m.records.WithLabelValues("held", "stored").Inc()
		case strings.HasPrefix(subj, ResultPrefix):
			r, err := DecodeResult(msg.Data())
			if err == nil && subj != ResultSubject(r.Host) {
				err = fmt.Errorf("%w: result for host %q on subject %s", ErrRecord, r.Host, subj)
			}
			if err != nil {
				m.records.WithLabelValues("result", "invalid").Inc()
				m.logger.Warn("mail-host result refused", "subject", subj, "err", err)
				msg.Term()
				continue
			}
			row, found, err := m.store.HeldMessage(ctx, r.Host, r.QueueID)
			if err != nil {
				return err
			}
			if !found {
				row = chstore.HeldRow{Host: r.Host, QueueID: r.QueueID}
			}
			// rows of this batch are newer than what the store has
			for i := len(rows) - 1; i >= 0; i-- {
				if rows[i].Host == r.Host && rows[i].QueueID == r.QueueID {
					row = rows[i]
					break
				}
			}
			next, result := applyResult(row, r, m.opts.Now())
			rows = append(rows, next)
			m.records.WithLabelValues("result", "stored").Inc()
			audits = append(audits, audit{"held_" + r.Action + "_result", "mailhost:" + r.Host, r.Host + "/" + r.QueueID, result,
				fmt.Sprintf("outcome %s, status %s, queue %q, requested by %s: %s", r.Outcome, next.Status, r.Queue, r.By, next.Detail)})
		default:
			msg.Term()
			continue
		}
		ok = append(ok, msg)
	}
	if err := m.store.WriteHeld(ctx, rows); err != nil {
		return err
	}
	for _, a := range audits {
		m.opts.Audit(a.action, a.actor, a.target, a.result, a.detail)
	}
	for _, msg := range ok {
		msg.Ack()
	}
	return nil
}

// heldRow is a held record as its first state.
func heldRow(h HeldMessage) chstore.HeldRow {
	domain := ""
	if i := strings.LastIndexByte(h.User, '@'); i >= 0 {
		domain = strings.ToLower(h.User[i+1:])
	}
	t := h.Time.UTC().Truncate(time.Second)
	return chstore.HeldRow{Host: h.Host, QueueID: h.QueueID, IncidentID: h.IncidentID, DecisionID: h.DecisionID, User: h.User, Domain: domain,
		Sender: h.Sender, Recipients: uint32(h.Recipients), Size: uint64(h.Size), HeldAt: t, Status: chstore.HeldStatus, ChangedAt: t,
		Version: uint64(t.UnixNano())}
}

// applyResult is the state after an agent's result, and the audit result (success or failure). A message no
// longer held counts as released when it is still queued elsewhere (an earlier command released it) and as
// deleted when it is gone; anything else is a failure with the reason in Detail.
func applyResult(row chstore.HeldRow, r Result, now time.Time) (chstore.HeldRow, string) {
	next := row
	next.Actor, next.ChangedAt, next.Detail = r.By, r.At.UTC().Truncate(time.Second), r.Error
	next.Version = max(uint64(now.UnixNano()), uint64(r.Requested.UnixNano())+1, row.Version+1)
	switch {
	case r.Outcome == OutcomeReleased:
		next.Status = chstore.HeldReleased
	case r.Outcome == OutcomeDeleted:
		next.Status = chstore.HeldDeleted
	case r.Outcome == OutcomeNotHeld && r.Action == ActionRelease && r.Queue != "":
		next.Status, next.Detail = chstore.HeldReleased, "already out of the hold queue (in the "+r.Queue+" queue)"
	case r.Outcome == OutcomeNotHeld && r.Action == ActionDelete && r.Queue == "":
		next.Status, next.Detail = chstore.HeldDeleted, "no longer in any queue"
	case r.Outcome == OutcomeNotHeld && r.Queue == "":
		next.Status, next.Detail = chstore.HeldFailed, "not in the hold queue, nor in any other: delivered or deleted outside Vigil"
	case r.Outcome == OutcomeNotHeld:
		next.Status, next.Detail = chstore.HeldFailed, "not deleted: in the "+r.Queue+" queue, not held (released outside Vigil?)"
	default:
		next.Status = chstore.HeldFailed
	}
	if next.Status == chstore.HeldFailed {
		return next, "failure"
	}
	return next, "success"
}
