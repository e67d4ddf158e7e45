package natsbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/vigil-ids/vigil/internal/event"
)

// ErrUnavailable reports that JetStream did not store an event; the caller should retry later.
var ErrUnavailable = errors.New("event store unavailable")

// Publisher writes events to the events stream with their id as Nats-Msg-Id and waits for JetStream's acks.
type Publisher struct {
	js         jetstream.JetStream
	partitions int
	latency    prometheus.Histogram
	published  prometheus.Counter
	duplicates prometheus.Counter
	failed     prometheus.Counter
}

// NewPublisher returns a Publisher for a stream whose subjects are partitioned partitions ways.
func NewPublisher(js jetstream.JetStream, partitions int, reg prometheus.Registerer) *Publisher {
	f := promauto.With(reg)
	return &Publisher{
		js:         js,
		partitions: partitions,
		latency: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "vigil_publish_seconds",
			Help:    "Time from publishing a batch of events to JetStream until every ack arrived.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		published:  f.NewCounter(prometheus.CounterOpts{Name: "vigil_publish_events_total", Help: "Events stored by JetStream."}),
		duplicates: f.NewCounter(prometheus.CounterOpts{Name: "vigil_publish_duplicates_total", Help: "Events JetStream recognised as duplicates by id."}),
		failed:     f.NewCounter(prometheus.CounterOpts{Name: "vigil_publish_failures_total", Help: "Events JetStream did not acknowledge."}),
	}
}

// Partitions returns the partition count events are spread over.
func (p *Publisher) Partitions() int { return p.partitions }

// Publish stores every event and returns nil only when JetStream acknowledged all of them. The error wraps
// ErrUnavailable and counts the events not stored.
func (p *Publisher) Publish(ctx context.Context, evs []event.Event) error {
	var first error
	failed := 0
	for _, err := range p.PublishEach(ctx, evs) {
		if err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	if failed == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d events not stored: %w", failed, len(evs), first)
}

// PublishEach stores every event and returns one error slot per event (nil when acknowledged), or nil when all were.
func (p *Publisher) PublishEach(ctx context.Context, evs []event.Event) []error {
	if len(evs) == 0 {
		return nil
	}
	start := time.Now()
	futures := make([]jetstream.PubAckFuture, len(evs))
	var errs []error
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(evs))
		}
		errs[i] = fmt.Errorf("%w: %w", ErrUnavailable, err)
		p.failed.Inc()
	}
	for i := range evs {
		data, err := event.Marshal(&evs[i])
		if err != nil {
			fail(i, err)
			continue
		}
		msg := &nats.Msg{Subject: SubjectOf(&evs[i], p.partitions), Data: data, Header: nats.Header{}}
		f, err := p.js.PublishMsgAsync(msg, jetstream.WithMsgID(evs[i].ID), jetstream.WithStallWait(5*time.Second))
		if err != nil {
			fail(i, err)
			continue
		}
		futures[i] = f
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case ack := <-f.Ok():
			p.published.Inc()
			if ack.Duplicate {
				p.duplicates.Inc()
			}
		case err := <-f.Err():
			fail(i, err)
		case <-ctx.Done():
			fail(i, ctx.Err())
		}
	}
	p.latency.Observe(time.Since(start).Seconds())
	return errs
}

var _ event.Sink = (*Publisher)(nil)
