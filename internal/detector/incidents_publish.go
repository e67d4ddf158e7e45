package detector

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/retry"
)

// publishIncidents stores every committed incident version in the incidents stream (natsbus.IncidentsStream) under
// its message id natsbus.IncidentMsgID, and returns once JetStream acknowledged each one. The versions not
// acknowledged are published again with backoff (the message id makes a repeat a duplicate, never a second copy),
// until ctx ends: then it returns an error and the caller must not acknowledge the batch, so a restart redelivers
// it, commits it again (idempotent) and publishes it again (deduplicated).
func (d *Detector) publishIncidents(ctx context.Context, incs []incident.Incident) error {
	if len(incs) == 0 {
		return nil
	}
	msgs := make([]*nats.Msg, 0, len(incs))
	ids := make([]string, 0, len(incs))
	for i := range incs {
		data, err := json.Marshal(&incs[i])
		if err != nil { // an incident is plain data; this cannot happen, and a batch is never stuck on it
			d.logger.Error("incident not encodable; not published", "rule", incs[i].Rule, "err", err)
			continue
		}
		msgs = append(msgs, &nats.Msg{Subject: natsbus.IncidentSubject(string(incs[i].Rule)), Data: data})
		ids = append(ids, natsbus.IncidentMsgID(incs[i].ID, incs[i].Version))
	}
	backoff := retry.Backoff{Max: maxBackoff}
	for attempt := 1; ; attempt++ {
		start := time.Now()
		var failed []int
		var err error
		for lo := 0; lo < len(msgs); lo += maxInFlight { // bounded acks in flight: the async publisher stalls beyond its limit
			hi := min(lo+maxInFlight, len(msgs))
			f, e := d.publishOnce(ctx, msgs[lo:hi], ids[lo:hi])
			for _, i := range f {
				failed = append(failed, lo+i)
			}
			if e != nil && err == nil {
				err = e
			}
		}
		if failed == nil {
			d.m.incidentPublishSeconds.Observe(time.Since(start).Seconds())
			d.publishErr.Store(nil)
			return nil
		}
		d.publishErr.Store(&err)
		d.m.incidentPublishErrors.Add(float64(len(failed)))
		next := make([]*nats.Msg, 0, len(failed))
		nextIDs := make([]string, 0, len(failed))
		for _, i := range failed {
			next, nextIDs = append(next, msgs[i]), append(nextIDs, ids[i])
		}
		msgs, ids = next, nextIDs
		wait := backoff.Next()
		d.logger.Warn("incident versions not stored in the incidents stream; holding the batch and retrying",
			"versions", len(msgs), "attempt", attempt, "retry_in", wait, "err", err)
		if !retry.Sleep(ctx, wait) {
			return fmt.Errorf("publish incidents: %w (last error: %w)", ctx.Err(), err)
		}
	}
}

// publishOnce publishes msgs asynchronously and waits for every ack, up to 10 s even when ctx ends (a shutdown
// still gets its last batch acknowledged); it returns the indexes not acknowledged and the first error.
func (d *Detector) publishOnce(ctx context.Context, msgs []*nats.Msg, ids []string) (failed []int, first error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	fail := func(i int, err error) {
		failed = append(failed, i)
		if first == nil {
			first = err
		}
	}
	futures := make([]jetstream.PubAckFuture, len(msgs))
	for i, m := range msgs {
		// A fresh message each attempt: the client keeps state on a message it published.
		msg := &nats.Msg{Subject: m.Subject, Data: m.Data}
		f, err := d.js.PublishMsgAsync(msg, jetstream.WithMsgID(ids[i]), jetstream.WithExpectStream(natsbus.IncidentsStream),
			jetstream.WithStallWait(5*time.Second))
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
			if ack.Duplicate {
				d.m.incidentPublishDuplicates.Inc()
			}
		case err := <-f.Err():
			fail(i, err)
		case <-ctx.Done():
			fail(i, ctx.Err())
		}
	}
	return failed, first
}
