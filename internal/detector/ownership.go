package detector

import (
	"context"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/retry"
)

// Owned returns the partitions whose windows this detector holds and whose events it processes, in order.
func (d *Detector) Owned() []int {
	d.ownedMu.Lock()
	defer d.ownedMu.Unlock()
	out := make([]int, 0, len(d.owned))
	for p := range d.owned {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// own records that the engine holds partition p's windows (process goroutine, or Run before it starts).
func (d *Detector) own(p int) {
	d.live[p] = true
	d.ownedMu.Lock()
	if p == allPartitions {
		for q := range d.opts.Partitions {
			d.owned[q] = true
		}
	} else {
		d.owned[p] = true
	}
	n := len(d.owned)
	d.ownedMu.Unlock()
	d.m.owned.Set(float64(n))
}

// disown forgets partition p's users and its progress: another member owns it now (process goroutine).
func (d *Detector) disown(p int) {
	users := d.eng.Forget(func(user string) bool { return covers(p, event.Partition(user, d.opts.Partitions)) })
	d.m.users.Set(float64(users))
	delete(d.live, p)
	delete(d.applied, p)
	delete(d.pending, p)
	d.m.pending.DeleteLabelValues(partitionLabel(p))
	d.ownedMu.Lock()
	if p == allPartitions {
		clear(d.owned)
	} else {
		delete(d.owned, p)
	}
	n := len(d.owned)
	d.ownedMu.Unlock()
	d.m.owned.Set(float64(n))
}

// catchUp is called, with everything applied so far committed, before partition p's consumer restarts. When the
// engine holds p's windows and nobody else acknowledged past them, the consumer restarts after the newest applied
// message. Otherwise (p was just taken over, or another member processed it meanwhile) it rebuilds p's windows up to
// the consumer's ack floor, as at a start, and the consumer restarts after the floor. It retries until it succeeds,
// and returns false only when ctx ends.
func (d *Detector) catchUp(ctx context.Context, stream jetstream.Stream, p int) (uint64, bool) {
	return d.untilDone(ctx, p, func() (uint64, error) { return d.catchUpOnce(ctx, stream, p) })
}

// untilDone calls catchUpOnce, a catch-up of partition p, until it succeeds, with backoff; false when ctx ends.
func (d *Detector) untilDone(ctx context.Context, p int, catchUpOnce func() (uint64, error)) (uint64, bool) {
	backoff := retry.Backoff{Max: maxBackoff}
	for {
		from, err := catchUpOnce()
		if err == nil {
			return from, true
		}
		wait := backoff.Next()
		d.logger.Warn("catching up partition failed; retrying", "partition", partitionLabel(p), "retry_in", wait, "err", err)
		if !retry.Sleep(ctx, wait) {
			return 0, false
		}
	}
}

func (d *Detector) catchUpOnce(ctx context.Context, stream jetstream.Stream, p int) (uint64, error) {
	c, err := stream.Consumer(ctx, d.consumerConfig(p).Durable)
	if err != nil {
		return 0, fmt.Errorf("consumer info: %w", err)
	}
	floor := c.CachedInfo().AckFloor.Stream
	if d.live[p] && floor <= d.applied[p] {
		return d.applied[p] + 1, nil
	}
	if d.live[p] {
		d.disown(p)
	}
	if err := d.rebuild(ctx, stream, map[int]uint64{p: floor}); err != nil {
		return 0, err
	}
	d.applied[p] = floor
	d.own(p)
	d.m.takeovers.Inc()
	d.logger.Info("partition taken over", "partition", partitionLabel(p), "ack_floor", floor)
	return floor + 1, nil
}
