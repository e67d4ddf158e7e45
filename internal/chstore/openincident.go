package chstore

import (
	"context"
	"fmt"

	"github.com/vigil-ids/vigil/internal/incident"
)

var qOpenIncident = register("open incident of a user", `SELECT incident_id FROM {db}.incidents FINAL
	WHERE user = ? AND status = ? AND incident_id NOT IN (
		SELECT incident_id FROM (SELECT incident_id, argMax(status, revision) AS shown FROM {db}.incident_reviews
			GROUP BY incident_id) WHERE shown = 'resolved')
	ORDER BY last_seen DESC LIMIT 1`, "alice@example.org", incident.StatusOpen)

// OpenIncident returns the id of the user's newest incident whose current version (FINAL) has status open, or ""
// (mailbox 2FA's step-up). An incident an admin resolved in the console (its newest review in the incident_reviews
// mirror) no longer counts.
func (s *Store) OpenIncident(ctx context.Context, user string) (string, error) {
	rows, err := s.conn.Query(ctx, s.sql(qOpenIncident), user, incident.StatusOpen)
	if err != nil {
		return "", fmt.Errorf("query open incidents: %w", err)
	}
	defer rows.Close()
	var id string
	if rows.Next() {
		if err := rows.Scan(&id); err != nil {
			return "", fmt.Errorf("scan incident: %w", err)
		}
	}
	return id, rows.Err()
}
