package natsbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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

// DeadLetter copies a message that cannot be processed to DLQEvents, with the reason and its origin in the headers
// Vigil-Reason, Vigil-Subject and Vigil-Sequence, then terminates it so it is never redelivered. The message is
// terminated even when the copy fails; the returned error says which step failed.
func DeadLetter(ctx context.Context, js jetstream.JetStream, msg jetstream.Msg, reason string) error {
	return DeadLetterTo(ctx, js, msg, DLQEvents, reason)
}

// DeadLetterTo is DeadLetter onto another dead-letter subject (one under DLQSubjects, like DLQNotify(sink)).
func DeadLetterTo(ctx context.Context, js jetstream.JetStream, msg jetstream.Msg, subject, reason string) error {
	h := nats.Header{}
	h.Set("Vigil-Reason", reason)
	h.Set("Vigil-Subject", msg.Subject())
	if meta, err := msg.Metadata(); err == nil {
		h.Set("Vigil-Sequence", fmt.Sprint(meta.Sequence.Stream))
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var errs []error
	if _, err := js.PublishMsg(pctx, &nats.Msg{Subject: subject, Data: msg.Data(), Header: h}); err != nil {
		errs = append(errs, fmt.Errorf("dead-letter publish of %s (message terminated anyway): %w", msg.Subject(), err))
	}
	if err := msg.Term(); err != nil {
		errs = append(errs, fmt.Errorf("terminate %s: %w", msg.Subject(), err))
	}
	return errors.Join(errs...)
}
