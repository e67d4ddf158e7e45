package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/natsbus"
)

// Notifier runs every configured sink over its durable consumers.
type Notifier struct {
	consumers []*consumer
	runners   []func(context.Context) error // the sinks' own loops (Alertmanager re-sends, e-mail digests)
	logger    *slog.Logger
}

// New ensures the source streams, the notifier's buckets and one durable consumer per sink and source, so events
// published after New returns are delivered even before Run starts. logins may be nil (owner mails then list the
// incident's own evidence).
func New(ctx context.Context, js jetstream.JetStream, o Options, logins LoginSource, logger *slog.Logger, reg prometheus.Registerer) (*Notifier, error) {
	o.setDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if _, err := natsbus.EnsureIncidentsStream(ctx, js, o.Replicas); err != nil {
		return nil, err
	}
	if _, err := decision.Open(ctx, js, decision.Options{Replicas: o.Replicas}); err != nil {
		return nil, err
	}
	if _, err := js.KeyValue(ctx, ReviewsBucket); errors.Is(err, jetstream.ErrBucketNotFound) { // the auth API's; created as it does
		_, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: ReviewsBucket, History: 64, Replicas: o.Replicas,
			Storage: jetstream.FileStorage, Description: "Vigil incident reviews"})
		if err != nil && !errors.Is(err, jetstream.ErrBucketExists) {
			return nil, fmt.Errorf("bucket %s: %w", ReviewsBucket, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", ReviewsBucket, err)
	}
	if err := natsbus.EnsureDLQ(ctx, js, o.Replicas); err != nil {
		return nil, err
	}
	opened, err := openBucket(ctx, js, OpenedBucket, "Vigil notifications: the version that opened each incident", natsbus.IncidentsMaxAge+24*time.Hour, o.Replicas)
	if err != nil {
		return nil, err
	}
	m := newMetrics(reg)
	n := &Notifier{logger: logger}
	var sinks []Sink
	for _, ep := range o.Webhooks {
		sinks = append(sinks, newWebhook(ep, o.Now))
	}
	if o.Alertmanager != nil {
		am, err := newAlertmanager(ctx, js, *o.Alertmanager, &o, m, logger)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, am)
		n.runners = append(n.runners, am.run)
	}
	if o.Email != nil {
		em, err := newEmail(ctx, js, *o.Email, &o, logins, m, logger)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, em)
		n.runners = append(n.runners, em.run)
	}
	dec := &decoder{opened: opened}
	for _, s := range sinks {
		for _, src := range s.Sources() {
			c, err := ensureConsumer(ctx, js, s.Name(), src, &o)
			if err != nil {
				return nil, err
			}
			n.consumers = append(n.consumers, &consumer{sink: s, src: src, cons: c, js: js, dec: dec, opts: &o, m: m, logger: logger})
		}
	}
	return n, nil
}

// Run delivers until ctx is cancelled; it returns nil then, after the deliveries under way finished.
func (n *Notifier) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range n.consumers {
		g.Go(func() error { return c.run(gctx) })
	}
	for _, r := range n.runners {
		g.Go(func() error { return r(gctx) })
	}
	return g.Wait()
}
