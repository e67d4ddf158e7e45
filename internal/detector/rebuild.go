package detector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/window"
)

// rebuild restores the windows of the partitions in floors from the stream: it continues their incidents committed
// before, then replays each partition from 24 hours before the newest event up to what its consumer already
// acknowledged (its floor).
func (d *Detector) rebuild(ctx context.Context, stream jetstream.Stream, floors map[int]uint64) error {
	info, err := stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("detector: stream info: %w", err)
	}
	if src, ok := d.store.(IncidentSource); ok && info.State.Msgs > 0 {
		incs, err := src.Incidents(ctx, info.State.LastTime.Add(-2*window.Span))
		if err != nil {
			return fmt.Errorf("detector: load open incidents: %w", err)
		}
		for _, inc := range incs {
			if holds(floors, event.Partition(inc.User, d.opts.Partitions)) {
				d.eng.Seed(inc)
			}
		}
	}
	if info.State.Msgs > 0 { // an empty stream (a quiet day and more) starts without history: everyone learns anew
		if err := d.seedHistories(ctx, info.State.LastTime.Add(-window.Span)); err != nil {
			return err
		}
	}
	start := time.Now()
	total := 0
	for p, floor := range floors {
		if floor == 0 {
			continue
		}
		n, err := d.replay(ctx, p, info.State.LastTime.Add(-window.Span), floor)
		if err != nil {
			return err
		}
		d.applied[p] = floor
		total += n
	}
	d.eng.LearnFrom(time.Time{}) // late logins after the replay are new to every history
	elapsed := time.Since(start)
	d.m.replayed.Add(float64(total))
	d.m.users.Set(float64(d.eng.Users()))
	if total > 0 || d.opts.Group && len(floors) > 0 {
		d.logger.Info("windows rebuilt from the stream", "partitions", len(floors), "events", total, "users", d.eng.Users(), "elapsed", elapsed.Round(time.Millisecond))
	}
	return nil
}

// replay feeds partition p's messages from startTime up to and including sequence floor to the engine, without
// writing anything: their rows and incidents were committed before the restart.
func (d *Detector) replay(ctx context.Context, p int, startTime time.Time, floor uint64) (int, error) {
	oc, err := d.js.OrderedConsumer(ctx, d.opts.Stream, jetstream.OrderedConsumerConfig{
		FilterSubjects:    filters(p),
		DeliverPolicy:     jetstream.DeliverByStartTimePolicy,
		OptStartTime:      &startTime,
		InactiveThreshold: 10 * time.Second,
	})
	if err != nil {
		return 0, fmt.Errorf("detector: replay partition %s: %w", partitionLabel(p), err)
	}
	ci, err := oc.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("detector: replay partition %s: %w", partitionLabel(p), err)
	}
	if ci.NumPending == 0 {
		return 0, nil
	}
	it, err := oc.Messages(jetstream.PullMaxMessages(d.opts.BatchSize))
	if err != nil {
		return 0, fmt.Errorf("detector: replay partition %s: %w", partitionLabel(p), err)
	}
	defer it.Stop()
	var (
		n    int
		ev   event.Event
		incs []incident.Incident
	)
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if errors.Is(err, context.Canceled) || ctx.Err() != nil {
				return n, ctx.Err()
			}
			return n, fmt.Errorf("detector: replay partition %s: %w", partitionLabel(p), err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return n, fmt.Errorf("detector: replay partition %s: %w", partitionLabel(p), err)
		}
		if meta.Sequence.Stream > floor {
			return n, nil
		}
		if event.Unmarshal(msg.Data(), &ev) == nil {
			_, incs = d.eng.Process(&ev, incs[:0])
			n++
		}
		if meta.Sequence.Stream == floor || meta.NumPending == 0 {
			return n, nil
		}
	}
}
