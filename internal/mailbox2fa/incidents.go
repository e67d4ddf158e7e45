package mailbox2fa

import (
	"context"
	"fmt"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/incident"
)

// Incidents is the Suspicion of the ClickHouse incidents table: a user is suspicious while one of its incidents
// has status open (the current version, FINAL). There is no incident review store yet, so a reviewed incident
// counts as long as its status is open.
type Incidents struct{ Store *chstore.Store }

// OpenIncident returns the id of the user's newest open incident, or "".
func (i Incidents) OpenIncident(ctx context.Context, user string) (string, error) {
	rows, err := i.Store.Conn().Query(ctx, `SELECT incident_id FROM `+i.Store.Database()+`.incidents FINAL
		WHERE user = ? AND status = ? ORDER BY last_seen DESC LIMIT 1`, user, incident.StatusOpen)
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
