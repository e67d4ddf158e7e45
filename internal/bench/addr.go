package bench

import (
	"context"
	"errors"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/natsbus"
)

// addrDrained reports whether the address partitions' consumers have acknowledged everything republished to them,
// so the detector's time includes its address-keyed rules.
func addrDrained(ctx context.Context, js jetstream.JetStream) (bool, error) {
	s, err := js.Stream(ctx, natsbus.AddrStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return false, nil // the detector creates it at start
	}
	if err != nil {
		return false, err
	}
	names := s.ConsumerNames(ctx)
	for name := range names.Name() {
		if !strings.HasPrefix(name, natsbus.AddrConsumerPrefix) {
			continue
		}
		c, err := s.Consumer(ctx, name)
		if err != nil {
			return false, err
		}
		ci, err := c.Info(ctx)
		if err != nil {
			return false, err
		}
		if ci.NumPending > 0 || ci.NumAckPending > 0 {
			return false, nil
		}
	}
	return true, names.Err()
}

// resetAddr deletes the address stream with the events stream, so a run starts from nothing on both.
func resetAddr(ctx context.Context, js jetstream.JetStream) error {
	if err := js.DeleteStream(ctx, natsbus.AddrStream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return err
	}
	return nil
}
