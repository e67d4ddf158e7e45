package respond

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/retry"
)

// feedWait bounds how long a delivered incident waits for the feed to have read up to it.
const feedWait = 5 * time.Second

// feed reads the whole incidents stream, from the horizon back and then live, into r.recent, and records in r.fed
// the newest stream sequence read. A durable delivery is decided only once the feed has read up to it, so a
// combination sees every earlier incident, whichever responder instance received it and across restarts.
func (r *Responder) feed(ctx context.Context) error {
	var next uint64 // 0: start at the horizon; else the sequence to continue at
	backoff := retry.Backoff{Max: 5 * time.Second}
	for {
		err := r.feedOnce(ctx, &next)
		if ctx.Err() != nil {
			return nil
		}
		r.m.errors.WithLabelValues("feed").Inc()
		r.logger.Warn("incidents feed ended; restarting", "err", err)
		if !retry.Sleep(ctx, backoff.Next()) {
			return nil
		}
	}
}

func (r *Responder) feedOnce(ctx context.Context, next *uint64) error {
	stream, err := r.js.Stream(ctx, natsbus.IncidentsStream)
	if err != nil {
		return err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return err
	}
	if *next > info.State.LastSeq+1 { // the stream was deleted and created again: its sequences start over
		*next = 0
		r.fed.Store(0)
	}
	cfg := jetstream.OrderedConsumerConfig{InactiveThreshold: 30 * time.Second}
	if *next == 0 {
		start := r.opts.Now().Add(-r.horizon())
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	} else {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, *next
	}
	oc, err := r.js.OrderedConsumer(ctx, natsbus.IncidentsStream, cfg)
	if err != nil {
		return err
	}
	ci, err := oc.Info(ctx)
	if err != nil {
		return err
	}
	if ci.NumPending == 0 {
		// Nothing to read up to now: everything stored so far is known (or older than the horizon).
		r.advance(info.State.LastSeq)
	}
	it, err := oc.Messages(jetstream.PullMaxMessages(1000))
	if err != nil {
		return err
	}
	defer it.Stop()
	evict := time.NewTicker(10 * time.Minute)
	defer evict.Stop()
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("feed: %w", err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("feed: %w", err)
		}
		if inc, err := decodeIncident(msg.Data()); err == nil {
			r.recent.add(&inc, r.opts.Now())
			r.m.fed.Inc()
		}
		*next = meta.Sequence.Stream + 1
		r.advance(meta.Sequence.Stream)
		select {
		case <-evict.C:
			r.recent.evict(r.opts.Now().Add(-r.horizon()))
		default:
		}
	}
}

// advance raises r.fed to seq.
func (r *Responder) advance(seq uint64) {
	for {
		cur := r.fed.Load()
		if seq <= cur || r.fed.CompareAndSwap(cur, seq) {
			return
		}
	}
}

var errFeedBehind = errors.New("the incidents feed has not read up to this incident yet")

// waitFed waits until the feed has read the stream up to seq.
func (r *Responder) waitFed(ctx context.Context, seq uint64) error {
	if r.fed.Load() >= seq {
		return nil
	}
	deadline := time.Now().Add(feedWait)
	for r.fed.Load() < seq {
		if time.Now().After(deadline) {
			return errFeedBehind
		}
		if !retry.Sleep(ctx, time.Millisecond) {
			return ctx.Err()
		}
	}
	return nil
}
