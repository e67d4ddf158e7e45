package detector

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/natsbus"
)

// allPartitions is the partition key of the whole-stream consumer (natsbus.DetectorWholeConsumer). A detector
// that owns every partition in static mode uses it instead of one consumer per partition. The server reads each
// message once for it. A consumer filtered to one of n partitions reads past the other partitions' messages, so n
// such consumers cost n times the reads; at 16 partitions, reading and their consumer states took about a quarter
// of the detector's CPU profile.
const allPartitions = -1

// keys returns the partition keys of static mode's consumers: allPartitions, or the owned partitions.
func (d *Detector) keys() []int {
	if d.wholeStream {
		return []int{allPartitions}
	}
	return d.opts.Owned
}

// covers reports whether the consumer of partition key k delivers partition p's events.
func covers(k, p int) bool { return k == allPartitions || k == p }

// partitionLabel is the partition label of a key in metrics and logs.
func partitionLabel(k int) string {
	if k == allPartitions {
		return "all"
	}
	return strconv.Itoa(k)
}

// filterOf is the subject filter of partition key k's consumers on the events stream ("" for every message).
func filterOf(k int) string {
	if k == allPartitions {
		return ""
	}
	return natsbus.PartitionFilter(k)
}

// filters is filterOf as the subject list of an ordered consumer (none for every message).
func filters(k int) []string {
	if f := filterOf(k); f != "" {
		return []string{f}
	}
	return nil
}

// holds reports whether floors, keyed by partition key, has partition p's events.
func holds(floors map[int]uint64, p int) bool {
	_, all := floors[allPartitions]
	_, one := floors[p]
	return all || one
}

// wholeConsumer (re)creates the whole-stream consumer as consumer does a partition's, and returns it with its ack
// floor and the floors to rebuild the windows up to: {allPartitions: floor}, or per partition while per-partition
// consumers of an earlier run hold a newer floor than it (the detector owned every partition through them). The
// whole-stream consumer then starts after the lowest floor (after its own, or, when it is new, the partitions'
// lowest), the messages of a partition at or below its own floor are skipped (see skipped), and the old consumers
// are deleted once the whole-stream consumer has acknowledged past the highest.
func (d *Detector) wholeConsumer(ctx context.Context, stream jetstream.Stream) (jetstream.Consumer, uint64, map[int]uint64, error) {
	old := map[int]uint64{}
	for p := range d.opts.Partitions {
		c, err := stream.Consumer(ctx, natsbus.DetectorConsumer(p))
		switch {
		case err == nil:
			old[p] = c.CachedInfo().AckFloor.Stream
		case !errors.Is(err, jetstream.ErrConsumerNotFound):
			return nil, 0, nil, fmt.Errorf("detector: consumer for partition %d: %w", p, err)
		}
	}
	_, err := stream.Consumer(ctx, natsbus.DetectorWholeConsumer)
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, 0, nil, fmt.Errorf("detector: consumer %s: %w", natsbus.DetectorWholeConsumer, err)
	}
	var (
		c   jetstream.Consumer
		low uint64
	)
	if err == nil || len(old) == 0 {
		if c, low, err = d.consumer(ctx, stream, allPartitions); err != nil {
			return nil, 0, nil, err
		}
	} else {
		if len(old) == d.opts.Partitions { // a partition without a consumer was never processed: from the start
			low = slices.Min(slices.Collect(maps.Values(old)))
		}
		cfg := d.consumerConfig(allPartitions)
		if low > 0 {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, low+1
		}
		if c, err = stream.CreateConsumer(ctx, cfg); err != nil {
			return nil, 0, nil, fmt.Errorf("detector: consumer %s: %w", natsbus.DetectorWholeConsumer, err)
		}
	}
	floors, high := make(map[int]uint64, d.opts.Partitions), low
	for p := range d.opts.Partitions {
		floors[p] = max(old[p], low)
		high = max(high, floors[p])
	}
	if high == low {
		if len(old) > 0 {
			d.retirePartitionConsumers(ctx, stream)
		}
		return c, low, map[int]uint64{allPartitions: low}, nil
	}
	d.skip, d.skipUntil = floors, high
	d.retireAt.Store(high)
	d.logger.Info("one consumer over every partition takes over from the partitions' consumers",
		"consumer", natsbus.DetectorWholeConsumer, "from", low+1, "partition_consumers", len(old), "skipping_until", high)
	return c, low, floors, nil
}

// skipped reports whether the message at stream sequence seq was applied through its partition's own consumer
// before the whole-stream consumer replaced it (process goroutine). The partition is the subject's last token.
func (d *Detector) skipped(subject string, seq uint64) bool {
	if seq > d.skipUntil {
		d.skip = nil
		return false
	}
	p, err := strconv.Atoi(subject[strings.LastIndexByte(subject, '.')+1:])
	if err != nil {
		return false
	}
	floor, ok := d.skip[p]
	return ok && seq <= floor
}

// retired deletes the per-partition consumers replaced by the whole-stream consumer once it has acknowledged seq
// at or past the newest of their floors (commit goroutine); until then a restart still needs their floors.
func (d *Detector) retired(ctx context.Context, seq uint64) {
	at := d.retireAt.Load()
	if at == 0 || seq < at || !d.retireAt.CompareAndSwap(at, 0) {
		return
	}
	stream, err := d.js.Stream(ctx, d.opts.Stream)
	if err != nil {
		d.logger.Warn("delete the replaced partition consumers; left for the next start", "err", err)
		return
	}
	d.retirePartitionConsumers(ctx, stream)
}

// retirePartitionConsumers deletes the events stream's per-partition detector consumers (the whole-stream consumer
// has taken their place). A failure is logged; the next start tries again.
func (d *Detector) retirePartitionConsumers(ctx context.Context, stream jetstream.Stream) {
	names := stream.ConsumerNames(ctx)
	var old []string
	for name := range names.Name() {
		if strings.HasPrefix(name, natsbus.DetectorConsumerPrefix+"p") {
			old = append(old, name)
		}
	}
	if err := names.Err(); err != nil {
		d.logger.Warn("list the replaced partition consumers; left for the next start", "err", err)
		return
	}
	for _, name := range old {
		if err := stream.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			d.logger.Warn("delete a replaced partition consumer; left for the next start", "consumer", name, "err", err)
		}
	}
}

// fromWhole sets cfg, a partition consumer of the events stream about to be created, to start after the
// whole-stream consumer's ack floor when that consumer exists: a detector that owned every partition was
// replaced by several (static ranges or a group). It returns that floor (0 when there is none).
func (d *Detector) fromWhole(ctx context.Context, stream jetstream.Stream, cfg *jetstream.ConsumerConfig) (uint64, error) {
	c, err := stream.Consumer(ctx, natsbus.DetectorWholeConsumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("detector: consumer %s: %w", natsbus.DetectorWholeConsumer, err)
	}
	floor := c.CachedInfo().AckFloor.Stream
	if floor > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, floor+1
	}
	return floor, nil
}

// retireWhole deletes the whole-stream consumer once every partition has a consumer of its own: none needs its
// ack floor any more.
func (d *Detector) retireWhole(ctx context.Context, stream jetstream.Stream) {
	if _, err := stream.Consumer(ctx, natsbus.DetectorWholeConsumer); err != nil {
		return
	}
	for p := range d.opts.Partitions {
		if _, err := stream.Consumer(ctx, natsbus.DetectorConsumer(p)); err != nil {
			return
		}
	}
	if err := stream.DeleteConsumer(ctx, natsbus.DetectorWholeConsumer); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		d.logger.Warn("delete the replaced whole-stream consumer", "consumer", natsbus.DetectorWholeConsumer, "err", err)
		return
	}
	d.logger.Info("every partition has its own consumer; the whole-stream consumer is deleted", "consumer", natsbus.DetectorWholeConsumer)
}
