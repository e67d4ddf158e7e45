package natsbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StreamOptions configures the VIGIL_EVENTS stream.
type StreamOptions struct {
	Name       string        // default VIGIL_EVENTS
	Replicas   int           // default 1
	MaxAge     time.Duration // retention; at least 25h so a detector can rebuild 24h windows
	Duplicates time.Duration // deduplication window for Nats-Msg-Id; default 1h
	MaxBytes   int64         // 0 = unlimited
}

// Defaults of StreamOptions.
const (
	DefaultStream     = EventsStream
	DefaultMaxAge     = 25 * time.Hour
	MinMaxAge         = 25 * time.Hour
	DefaultDuplicates = time.Hour
)

func (o *StreamOptions) setDefaults() {
	if o.Name == "" {
		o.Name = DefaultStream
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.MaxAge == 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Duplicates == 0 {
		o.Duplicates = DefaultDuplicates
	}
}

// Validate reports every problem with the options.
func (o StreamOptions) Validate() error {
	o.setDefaults()
	var errs []error
	if o.Replicas < 1 || o.Replicas > 5 {
		errs = append(errs, fmt.Errorf("stream replicas %d: must be 1-5", o.Replicas))
	}
	if o.MaxAge < MinMaxAge {
		errs = append(errs, fmt.Errorf("stream retention %s: must be at least %s so 24h windows can be rebuilt", o.MaxAge, MinMaxAge))
	}
	if o.Duplicates <= 0 || o.Duplicates > o.MaxAge {
		errs = append(errs, fmt.Errorf("duplicate window %s: must be positive and at most the retention", o.Duplicates))
	}
	return errors.Join(errs...)
}

// EnsureStream creates the events stream or updates its configuration, and returns it.
func EnsureStream(ctx context.Context, js jetstream.JetStream, o StreamOptions) (jetstream.Stream, error) {
	o.setDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	cfg := jetstream.StreamConfig{
		Name:        o.Name,
		Description: "Vigil login and send events",
		Subjects:    []string{EventSubjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      o.MaxAge,
		MaxBytes:    o.MaxBytes,
		Duplicates:  o.Duplicates,
		Replicas:    o.Replicas,
		Discard:     jetstream.DiscardOld,
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = -1
	}
	s, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", o.Name, err)
	}
	return s, nil
}

// NewJetStream returns a JetStream context tuned for Vigil's publishers: many acks in flight and a bounded wait for
// each, so a publisher never hangs on a stream that does not answer.
func NewJetStream(nc *nats.Conn) (jetstream.JetStream, error) {
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(65536),
		jetstream.WithPublishAsyncTimeout(10*time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return js, nil
}
