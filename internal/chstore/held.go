package chstore

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Statuses of a held message (held_messages.status).
const (
	HeldStatus           = "held"
	HeldReleaseRequested = "release_requested"
	HeldReleased         = "released"
	HeldDeleteRequested  = "delete_requested"
	HeldDeleted          = "deleted"
	HeldFailed           = "failed"
)

// heldColumns are held_messages' columns, as WriteHeld names them in its literal (the SQL check reads it there);
// maxHeldOfIncident bounds HeldOfIncident.
const (
	heldColumns       = "host, queue_id, incident_id, decision_id, user, domain, sender, recipients, size, held_at, status, actor, changed_at, detail, version"
	maxHeldOfIncident = 1000
)

// HeldRow is one state of a held message: what Postfix held, and its newest status.
type HeldRow struct {
	Host       string    `json:"host"`
	QueueID    string    `json:"queue_id"`
	IncidentID string    `json:"incident_id"`
	DecisionID string    `json:"decision_id"`
	User       string    `json:"user"`
	Domain     string    `json:"domain"`
	Sender     string    `json:"sender"`
	Recipients uint32    `json:"recipients"`
	Size       uint64    `json:"size"`
	HeldAt     time.Time `json:"held_at"`
	Status     string    `json:"status"`
	Actor      string    `json:"actor"` // who changed the status last ("" while held)
	ChangedAt  time.Time `json:"changed_at"`
	Detail     string    `json:"detail"` // the agent's error or a note on the outcome
	Version    uint64    `json:"version"`
}

var (
	qHeldOfIncident = register("held messages of an incident", "SELECT "+heldColumns+
		" FROM {db}.held_messages FINAL WHERE incident_id = ? ORDER BY held_at, host, queue_id LIMIT ?", "0123456789abcdef0123456789abcdef", maxHeldOfIncident)
	qHeldMessage = register("held message", "SELECT "+heldColumns+
		" FROM {db}.held_messages FINAL WHERE host = ? AND queue_id = ? LIMIT 1", "mx1.example.net", "E3F44D031A")
)

// WriteHeld inserts held-message states; the highest version of a (host, queue id) is its current state.
func (s *Store) WriteHeld(ctx context.Context, rows []HeldRow) error {
	if len(rows) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.WriteTimeout)
	defer cancel()
	return s.insert(ctx, "held_messages", "host, queue_id, incident_id, decision_id, user, domain, sender, recipients, size, held_at, status, actor, changed_at, detail, version", len(rows), func(b driver.Batch) error {
		for _, r := range rows {
			if err := b.Append(r.Host, r.QueueID, r.IncidentID, r.DecisionID, r.User, r.Domain, r.Sender, r.Recipients, r.Size,
				r.HeldAt.UTC(), r.Status, r.Actor, r.ChangedAt.UTC(), r.Detail, r.Version); err != nil {
				return err
			}
		}
		return nil
	})
}

// HeldOfIncident returns the current state of every message held for an incident (at most 1000), oldest first.
func (s *Store) HeldOfIncident(ctx context.Context, incidentID string) ([]HeldRow, error) {
	return s.heldRows(ctx, qHeldOfIncident, incidentID, maxHeldOfIncident)
}

// HeldMessage returns the current state of one held message; ok is false when it is not recorded.
func (s *Store) HeldMessage(ctx context.Context, host, queueID string) (HeldRow, bool, error) {
	rows, err := s.heldRows(ctx, qHeldMessage, host, queueID)
	if err != nil || len(rows) == 0 {
		return HeldRow{}, false, err
	}
	return rows[0], true, nil
}

func (s *Store) heldRows(ctx context.Context, q Query, args ...any) ([]HeldRow, error) {
	rows, err := s.conn.Query(ctx, s.sql(q), args...)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q.Name, err)
	}
	defer rows.Close()
	out := []HeldRow{}
	for rows.Next() {
		var r HeldRow
		if err := rows.Scan(&r.Host, &r.QueueID, &r.IncidentID, &r.DecisionID, &r.User, &r.Domain, &r.Sender, &r.Recipients, &r.Size,
			&r.HeldAt, &r.Status, &r.Actor, &r.ChangedAt, &r.Detail, &r.Version); err != nil {
			return nil, fmt.Errorf("scan %s: %w", q.Name, err)
		}
		r.HeldAt, r.ChangedAt = r.HeldAt.UTC(), r.ChangedAt.UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}
