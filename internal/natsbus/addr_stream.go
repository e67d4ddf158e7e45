package natsbus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// EnsureAddrStream creates the address stream (AddrStream) or updates its configuration. It follows the events
// stream's retention and replicas, since the address windows are rebuilt from it like the user windows.
func EnsureAddrStream(ctx context.Context, js jetstream.JetStream, replicas int, maxAge time.Duration) (jetstream.Stream, error) {
	if replicas < 1 {
		replicas = 1
	}
	if maxAge < MinMaxAge {
		maxAge = DefaultMaxAge
	}
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        AddrStream,
		Description: "Vigil logins republished by client address for the address-keyed rules",
		Subjects:    []string{AddrSubjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      maxAge,
		MaxBytes:    -1,
		Duplicates:  DefaultDuplicates,
		Replicas:    replicas,
		Discard:     jetstream.DiscardOld,
	})
	if err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", AddrStream, err)
	}
	return s, nil
}
