package quarantine

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/vigil-ids/vigil/internal/retry"
)

// DefaultRecorderBuffer is how many held records wait for JetStream before new ones are dropped.
const DefaultRecorderBuffer = 10000

// Recorder publishes held records for the ingest side. Held never blocks and never fails the policy answer: a
// record the bounded buffer cannot take, or an invalid one, is counted and logged; Run publishes with retries.
type Recorder struct {
	js      jetstream.JetStream
	queue   chan HeldMessage
	logger  *slog.Logger
	dropped *prometheus.CounterVec
	stored  prometheus.Counter
}

// NewRecorder returns a Recorder buffering up to size records (DefaultRecorderBuffer when 0).
func NewRecorder(js jetstream.JetStream, size int, logger *slog.Logger, reg prometheus.Registerer) *Recorder {
	if size <= 0 {
		size = DefaultRecorderBuffer
	}
	f := promauto.With(reg)
	r := &Recorder{js: js, queue: make(chan HeldMessage, size), logger: logger,
		dropped: f.NewCounterVec(prometheus.CounterOpts{Name: "vigil_quarantine_held_dropped_total",
			Help: "Held-message records not stored, by reason (invalid, buffer_full, shutdown); the mail stays held in Postfix."}, []string{"reason"}),
		stored: f.NewCounter(prometheus.CounterOpts{Name: "vigil_quarantine_held_recorded_total", Help: "Held-message records stored in JetStream."}),
	}
	for _, reason := range []string{"invalid", "buffer_full", "shutdown"} {
		r.dropped.WithLabelValues(reason)
	}
	return r
}

// Held queues a held message's record; it returns at once.
func (r *Recorder) Held(_ context.Context, m HeldMessage) {
	m.Time = m.Time.UTC().Truncate(time.Second)
	if err := m.Validate(); err != nil {
		r.dropped.WithLabelValues("invalid").Inc()
		r.logger.Warn("held message not recorded", "host", m.Host, "err", err)
		return
	}
	select {
	case r.queue <- m:
	default:
		r.dropped.WithLabelValues("buffer_full").Inc()
		r.logger.Error("held message not recorded: buffer full (JetStream too slow or down)", "host", m.Host, "queue_id", m.QueueID)
	}
}

// Run publishes queued records until ctx is cancelled, then tries for up to 5 seconds to store the rest.
func (r *Recorder) Run(ctx context.Context) error {
	if err := EnsureStreams(ctx, r.js, 0); err != nil {
		r.logger.Warn("quarantine streams not ensured; publishing anyway", "err", err)
	}
	for {
		select {
		case m := <-r.queue:
			r.publish(ctx, m)
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			for len(r.queue) > 0 {
				r.publish(sctx, <-r.queue)
			}
			return nil
		}
	}
}

func (r *Recorder) publish(ctx context.Context, m HeldMessage) {
	data, _ := json.Marshal(m)
	var backoff retry.Backoff
	for {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, err := r.js.Publish(pctx, HeldSubject(m.Host), data, jetstream.WithMsgID(heldMsgID(m.Host, m.QueueID)))
		cancel()
		if err == nil {
			r.stored.Inc()
			return
		}
		if ctx.Err() != nil {
			r.dropped.WithLabelValues("shutdown").Inc()
			r.logger.Error("held message not recorded at shutdown", "host", m.Host, "queue_id", m.QueueID, "err", err)
			return
		}
		wait := backoff.Next()
		r.logger.Warn("held record not stored; retrying", "queue_id", m.QueueID, "err", err, "retry_in", wait)
		sleep(ctx, wait)
	}
}
