package natsbus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The containment and notification streams. Incidents are published into IncidentsStream with the message id
// IncidentMsgID, so a detector that commits a batch twice (a redelivery after a crash) stores each version once.
const (
	// IncidentsStream keeps every committed incident version, for the responder and the notifiers.
	IncidentsStream = "VIGIL_INCIDENTS"
	// IncidentSubjects is its subject filter: vigil.incidents.<rule>.
	IncidentSubjects = IncidentSubjectPrefix + ">"
	// IncidentsMaxAge is how long incident versions stay in the stream: a notifier that is down this long loses
	// deliveries, which it counts.
	IncidentsMaxAge = 7 * 24 * time.Hour
)

// IncidentMsgID is the JetStream message id of one incident version.
func IncidentMsgID(incidentID string, version uint64) string {
	return fmt.Sprintf("%s.%d", incidentID, version)
}

// EnsureIncidentsStream creates the incidents stream (IncidentsStream) or updates its configuration.
func EnsureIncidentsStream(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.Stream, error) {
	if replicas < 1 {
		replicas = 1
	}
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        IncidentsStream,
		Description: "Vigil incident versions, for containment and notifications",
		Subjects:    []string{IncidentSubjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      IncidentsMaxAge,
		MaxBytes:    -1,
		Duplicates:  DefaultDuplicates,
		Replicas:    replicas,
		Discard:     jetstream.DiscardOld,
	})
	if err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", IncidentsStream, err)
	}
	return s, nil
}
