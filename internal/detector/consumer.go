package detector

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/retry"
)

// consumerConfig is partition p's durable consumer. A partition is committed in order, so one AckAll ack per batch
// covers it. That is only sound while the detector has received every delivery: fetch checks the delivery sequence
// and restarts the consumer when one was lost.
func (d *Detector) consumerConfig(p int) jetstream.ConsumerConfig {
	cfg := jetstream.ConsumerConfig{
		Durable:       natsbus.DetectorConsumer(p),
		Description:   fmt.Sprintf("Vigil detector, partition %d", p),
		FilterSubject: filterOf(p),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       d.opts.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: 4 * d.opts.BatchSize,
	}
	if p == allPartitions {
		cfg.Durable, cfg.Description = natsbus.DetectorWholeConsumer, "Vigil detector, every partition"
	}
	d.pin(&cfg)
	return cfg
}

// pin makes cfg, a user or an address partition's consumer, a pinned priority group in group mode: one member at a
// time receives the partition's messages, the one the server pinned, until it stops pulling for PinnedTTL or is
// unpinned.
func (d *Detector) pin(cfg *jetstream.ConsumerConfig) {
	if d.opts.Group {
		cfg.PriorityGroups = []string{natsbus.DetectorPriorityGroup}
		cfg.PriorityPolicy = jetstream.PriorityPolicyPinned
		cfg.PinnedTTL = d.opts.GroupTTL
	}
}

// groupConsumer returns the consumer cfg (a user or an address partition's, for group mode) of stream, creating it
// when there is none. Other members may be using it, so it keeps its delivery state, except that a consumer left by
// static mode is replaced by one that starts after its ack floor.
func (d *Detector) groupConsumer(ctx context.Context, stream jetstream.Stream, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	old, err := stream.Consumer(ctx, cfg.Durable)
	switch {
	case err == nil:
		info := old.CachedInfo()
		if info.Config.PriorityPolicy == cfg.PriorityPolicy && info.Config.AckPolicy == cfg.AckPolicy && info.Config.FilterSubject == cfg.FilterSubject {
			return old, nil
		}
		if err := stream.DeleteConsumer(ctx, cfg.Durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, fmt.Errorf("detector: replace consumer %s: %w", cfg.Durable, err)
		}
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, info.AckFloor.Stream+1
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil, fmt.Errorf("detector: consumer %s: %w", cfg.Durable, err)
	case stream.CachedInfo().Config.Name == d.opts.Stream: // a user partition's, new
		if _, err := d.fromWhole(ctx, stream, &cfg); err != nil {
			return nil, err
		}
	}
	c, err := stream.CreateOrUpdateConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("detector: consumer %s: %w", cfg.Durable, err)
	}
	if cfg.OptStartSeq > 0 && stream.CachedInfo().Config.Name == d.opts.Stream {
		d.retireWhole(ctx, stream)
	}
	return c, nil
}

// consumer (re)creates partition p's durable consumer so that it delivers again everything after its ack floor at
// once: messages a stopped or crashed detector had received but not committed are not left waiting for AckWait.
// It returns the consumer and the ack floor (0 for a new consumer).
func (d *Detector) consumer(ctx context.Context, stream jetstream.Stream, p int) (jetstream.Consumer, uint64, error) {
	cfg := d.consumerConfig(p)
	name := cfg.Durable
	var floor uint64
	old, err := stream.Consumer(ctx, name)
	switch {
	case err == nil:
		info, err := old.Info(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("detector: consumer info for partition %s: %w", partitionLabel(p), err)
		}
		floor = info.AckFloor.Stream
		cfg.DeliverPolicy, cfg.OptStartSeq = info.Config.DeliverPolicy, info.Config.OptStartSeq
		changed := info.Config.AckPolicy != cfg.AckPolicy || info.Config.FilterSubject != cfg.FilterSubject ||
			info.Config.PriorityPolicy != cfg.PriorityPolicy
		if changed || info.NumAckPending > 0 || info.Delivered.Stream > floor {
			if err := stream.DeleteConsumer(ctx, name); err != nil {
				return nil, 0, fmt.Errorf("detector: reset consumer for partition %s: %w", partitionLabel(p), err)
			}
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, floor+1
		}
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil, 0, fmt.Errorf("detector: consumer for partition %s: %w", partitionLabel(p), err)
	case p != allPartitions:
		if floor, err = d.fromWhole(ctx, stream, &cfg); err != nil {
			return nil, 0, err
		}
	}
	c, err := stream.CreateOrUpdateConsumer(ctx, cfg)
	if err != nil {
		return nil, 0, fmt.Errorf("detector: consumer for partition %s: %w", partitionLabel(p), err)
	}
	return c, floor, nil
}

// restart resets partition p's consumer to deliver from stream sequence from, retrying while the cluster cannot
// answer (a consumer leader being elected). The reset is one replicated operation on the existing consumer: it
// drops the consumer's pending deliveries and sets its ack floor to from-1, so the acks of the old deliveries still
// in flight, all at or below it, change nothing. The caller has committed everything before from.
// It keeps c, which holds the pin of group mode, unless the consumer had to be created again.
func (d *Detector) restart(ctx context.Context, stream jetstream.Stream, p int, c jetstream.Consumer, from uint64) (jetstream.Consumer, error) {
	cfg := c.CachedInfo().Config // a user or an address partition's consumer
	backoff := retry.Backoff{Max: maxBackoff}
	for {
		_, err := stream.ResetConsumerToSequence(ctx, cfg.Durable, from)
		if err == nil {
			return c, nil
		}
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from
			var nc jetstream.Consumer
			if nc, err = stream.CreateConsumer(ctx, cfg); err == nil {
				return nc, nil
			}
		}
		wait := backoff.Next()
		d.logger.Warn("restart consumer failed; retrying", "partition", partitionLabel(p), "from", from, "retry_in", wait, "err", err)
		if !retry.Sleep(ctx, wait) {
			return nil, ctx.Err()
		}
	}
}

// fetch pulls a partition's messages in order and hands them to the processing loop. Every delivery of a consumer
// carries the next delivery sequence; a jump means deliveries were lost in transit (seen when the consumer leader
// dies mid-stream: the new leader continues after messages the old one sent but the client never got) or repeated
// by a new leader. Acknowledging a later message would then acknowledge the lost ones too (AckAll), so fetch drops
// the rest of that consumer's deliveries, has everything applied so far committed, and restarts the consumer right
// after the newest applied message. next is the first delivery sequence expected; 0 treats the first delivery as a
// gap, which is how a group member takes a partition over: a delivery shows the server pinned it, and the
// partition's windows are rebuilt before any live work.
func (d *Detector) fetch(ctx context.Context, stream jetstream.Stream, p int, c jetstream.Consumer, next uint64, out chan<- delivery) error {
	for {
		gap, err := d.follow(ctx, p, c, next, out)
		if err != nil || !gap {
			return err
		}
		if next != 0 {
			d.m.consumerRestarts.Inc()
		}
		resume := make(chan uint64, 1)
		var from uint64
		select {
		case out <- delivery{partition: p, resume: resume}:
		case <-ctx.Done():
			return nil
		}
		select {
		case from = <-resume:
		case <-ctx.Done():
			return nil
		}
		if c, err = d.restart(ctx, stream, p, c, from); err != nil {
			return nil // only when ctx ended
		}
		next = 1
	}
}

// follow hands c's deliveries to out while their delivery sequence continues from next. It returns true at the first
// delivery that does not, without handing it over, and false when ctx ends or the consumer stops for good (it was
// deleted). The deliveries arrive through Consume's handler, one goroutine: Messages' Next arms a timer per message.
func (d *Detector) follow(ctx context.Context, p int, c jetstream.Consumer, next uint64, out chan<- delivery) (bool, error) {
	opts := []jetstream.PullConsumeOpt{jetstream.PullMaxMessages(d.opts.BatchSize),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			d.logger.Warn("fetch failed", "partition", partitionLabel(p), "err", err)
		})}
	if d.opts.Group {
		// A pinned member pulls well within PinnedTTL, also while its partition is idle.
		opts = append(opts, jetstream.PullPriorityGroup(natsbus.DetectorPriorityGroup), jetstream.PullExpiry(d.opts.GroupTTL/2))
	}
	gap := make(chan struct{})
	done := false // the handler's own: set at the gap or when ctx ends, after which it hands nothing over
	cc, err := c.Consume(func(msg jetstream.Msg) {
		if done {
			return
		}
		meta, err := msg.Metadata()
		if err == nil { // without metadata, apply dead-letters it
			if next == 0 {
				d.logger.Info("taking the partition over", "partition", partitionLabel(p))
				done = true
			} else if meta.Sequence.Consumer != next {
				d.logger.Warn("deliveries lost or repeated in transit; restarting the consumer after the newest applied message",
					"partition", partitionLabel(p), "delivery", meta.Sequence.Consumer, "want_delivery", next)
				done = true
			}
			if done {
				close(gap)
				return
			}
			next++
		}
		select {
		case out <- delivery{partition: p, msg: msg, meta: meta}:
		case <-ctx.Done():
			done = true
		}
	}, opts...)
	if err != nil {
		return false, fmt.Errorf("detector: consume partition %s: %w", partitionLabel(p), err)
	}
	defer cc.Stop()
	select {
	case <-gap:
		return true, nil
	case <-ctx.Done():
		return false, nil
	case <-cc.Closed():
		return false, nil
	}
}
