package natsbus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DLQ stream and subjects: messages that cannot be processed are copied there with the reason, then terminated.
const (
	DLQStream   = "VIGIL_DLQ"
	DLQSubjects = "vigil.dlq.>"
	DLQEvents   = "vigil.dlq.events"
)

// EnsureDLQ creates or updates the dead-letter stream, which keeps poison messages for 7 days.
func EnsureDLQ(ctx context.Context, js jetstream.JetStream, replicas int) error {
	if replicas == 0 {
		replicas = 1
	}
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        DLQStream,
		Description: "Vigil messages that could not be processed, with the reason",
		Subjects:    []string{DLQSubjects},
		Storage:     jetstream.FileStorage,
		MaxAge:      7 * 24 * time.Hour,
		MaxBytes:    1 << 30,
		Replicas:    replicas,
		Discard:     jetstream.DiscardOld,
	})
	if err != nil {
		return fmt.Errorf("ensure stream %s: %w", DLQStream, err)
	}
	return nil
}
