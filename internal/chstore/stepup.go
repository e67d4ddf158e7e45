package chstore

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// StepUpRow is one mailbox 2FA step-up outcome recorded on an incident (table mailbox_step_ups): a webmail login
// that asked the user for a second factor, or was denied or allowed without one, because the incident was open.
type StepUpRow struct {
	IncidentID string    `json:"-"`
	AttemptID  string    `json:"attempt_id"` // random; a retried insert of one attempt collapses
	Time       time.Time `json:"time"`
	User       string    `json:"user"`
	Result     string    `json:"result"` // passed, failed, denied or allowed
	Method     string    `json:"method"` // totp, backup_code, email or "" (denied, allowed)
	ClientIP   string    `json:"client_ip"`
	Actor      string    `json:"actor"` // the API key (webmail) that asked
}

var qStepUps = register("step-up outcomes of an incident", `SELECT attempt_id, time, user, result, method, client_ip, actor
	FROM {db}.mailbox_step_ups FINAL WHERE incident_id = ? ORDER BY time DESC, attempt_id LIMIT 200`, "0123456789abcdef0123456789abcdef")

// WriteStepUps inserts step-up outcomes.
func (s *Store) WriteStepUps(ctx context.Context, rows []StepUpRow) error {
	if len(rows) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.WriteTimeout)
	defer cancel()
	return s.insert(ctx, "mailbox_step_ups", "incident_id, attempt_id, time, user, result, method, client_ip, actor", len(rows), func(b driver.Batch) error {
		for _, r := range rows {
			if err := b.Append(r.IncidentID, r.AttemptID, r.Time.UTC(), r.User, r.Result, r.Method, r.ClientIP, r.Actor); err != nil {
				return err
			}
		}
		return nil
	})
}

// StepUps returns the newest step-up outcomes (at most 200) of an incident, newest first.
func (s *Store) StepUps(ctx context.Context, incidentID string) ([]StepUpRow, error) {
	rows, err := s.conn.Query(ctx, s.sql(qStepUps), incidentID)
	if err != nil {
		return nil, fmt.Errorf("query step-ups: %w", err)
	}
	defer rows.Close()
	out := []StepUpRow{}
	for rows.Next() {
		r := StepUpRow{IncidentID: incidentID}
		if err := rows.Scan(&r.AttemptID, &r.Time, &r.User, &r.Result, &r.Method, &r.ClientIP, &r.Actor); err != nil {
			return nil, fmt.Errorf("scan step-up: %w", err)
		}
		r.Time = r.Time.UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}
