package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/natsbus"
)

// Sink receives events. Deliver returns nil once the event is delivered (or there is nothing to deliver); an error
// makes the event come back later, up to the retry limit; an error wrapping errPoison dead-letters it at once.
type Sink interface {
	Name() string      // bounded, [a-z0-9_-]: part of consumer names, metric labels and the dead-letter subject
	Sources() []Source // the streams it consumes
	Deliver(ctx context.Context, e *Event) error
}

// ConsumerName is the durable consumer of a sink on a source, like vigil-notify-webhook-siem-incidents.
func ConsumerName(sink string, src Source) string { return "vigil-notify-" + sink + "-" + string(src) }

// consumer runs one sink over one source.
type consumer struct {
	sink   Sink
	src    Source
	cons   jetstream.Consumer
	js     jetstream.JetStream
	dec    *decoder
	opts   *Options
	m      *metrics
	logger *slog.Logger
}

// ensureConsumer creates or updates the durable consumer. A new consumer starts with the messages that arrive
// from then on; an existing one resumes where it stopped.
func ensureConsumer(ctx context.Context, js jetstream.JetStream, sink string, src Source, o *Options) (jetstream.Consumer, error) {
	stream, filter := src.stream()
	c, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable:       ConsumerName(sink, src),
		Description:   "Vigil notifications of " + string(src) + " to " + sink,
		FilterSubject: filter,
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       fetchBatch*o.Timeout + 30*time.Second, // a whole batch of attempts that time out, and a margin
		MaxDeliver:    -1,                                    // the notifier counts deliveries itself and dead-letters after MaxDeliver
		MaxAckPending: 1000,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", ConsumerName(sink, src), stream, err)
	}
	return c, nil
}

// fetchBatch is how many messages one fetch asks for. They are handled one after the other, so the ack wait must
// cover the batch: a larger batch would delay a crashed notifier's redeliveries longer.
const fetchBatch = 4

// run fetches and handles messages until ctx is cancelled. A message being handled when ctx ends is finished
// (bounded by the delivery timeout) and acknowledged, so a stop neither loses nor repeats it.
func (c *consumer) run(ctx context.Context) error {
	for ctx.Err() == nil {
		batch, err := c.cons.Fetch(fetchBatch, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.logger.Warn("notify fetch failed", "sink", c.sink.Name(), "source", c.src, "err", err)
			sleep(ctx, time.Second)
			continue
		}
		for msg := range batch.Messages() {
			if ctx.Err() != nil { // fetched but not started: hand it back at once
				msg.Nak()
				continue
			}
			c.handle(context.WithoutCancel(ctx), msg)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && ctx.Err() == nil {
			c.logger.Warn("notify fetch ended", "sink", c.sink.Name(), "source", c.src, "err", err)
		}
	}
	return nil
}

func (c *consumer) handle(ctx context.Context, msg jetstream.Msg) {
	name := c.sink.Name()
	meta, err := msg.Metadata()
	if err != nil {
		c.deadLetter(ctx, msg, fmt.Sprintf("no JetStream metadata: %v", err))
		return
	}
	ev, err := c.dec.decode(ctx, c.src, msg)
	if err == nil && ev == nil {
		c.m.deliveries.WithLabelValues(name, "skipped").Inc()
		msg.Ack()
		return
	}
	if err == nil {
		dctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
		start := time.Now()
		err = c.sink.Deliver(dctx, ev)
		cancel()
		c.m.latency.WithLabelValues(name).Observe(time.Since(start).Seconds())
	}
	switch {
	case err == nil:
		c.m.deliveries.WithLabelValues(name, "delivered").Inc()
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		aerr := msg.DoubleAck(actx) // confirmed, so a stop right after it cannot repeat the delivery
		cancel()
		if aerr != nil {
			c.logger.Warn("notify ack failed; the event may be delivered again", "sink", name, "err", aerr)
		}
	case errors.Is(err, errPoison):
		c.deadLetter(ctx, msg, err.Error())
	case int(meta.NumDelivered) >= c.opts.MaxDeliver:
		c.deadLetter(ctx, msg, fmt.Sprintf("gave up after %d attempts: %v", meta.NumDelivered, err))
	default:
		c.m.deliveries.WithLabelValues(name, "failed").Inc()
		delay := c.opts.backoff(int(meta.NumDelivered))
		c.logger.Info("notify delivery failed; retrying", "sink", name, "source", c.src, "attempt", meta.NumDelivered, "retry_in", delay, "err", err)
		msg.NakWithDelay(delay)
	}
}

func (c *consumer) deadLetter(ctx context.Context, msg jetstream.Msg, reason string) {
	c.m.deliveries.WithLabelValues(c.sink.Name(), "dead_lettered").Inc()
	c.m.deadLetters.WithLabelValues(c.sink.Name()).Inc()
	c.logger.Warn("notification dead-lettered", "sink", c.sink.Name(), "source", c.src, "subject", msg.Subject(), "reason", reason)
	if err := natsbus.DeadLetterTo(ctx, c.js, msg, natsbus.DLQNotify(c.sink.Name()), reason); err != nil {
		c.logger.Error("notify dead letter failed", "sink", c.sink.Name(), "err", err)
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
