package natsbus

import (
	"context"
	"log/slog"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/retry"
)

// Buffer queues events for a sink that may be slow, so that a protocol endpoint answers its server at once. Run
// publishes them in batches, retrying while the sink fails; Offer never blocks.
type Buffer struct {
	sink   event.Sink
	queue  chan event.Event
	name   string
	logger *slog.Logger
	lost   func(n int) // events given up at shutdown
}

// NewBuffer returns a Buffer holding up to size events; lost counts events it gives up at shutdown.
func NewBuffer(sink event.Sink, size int, name string, logger *slog.Logger, lost func(n int)) *Buffer {
	return &Buffer{sink: sink, queue: make(chan event.Event, size), name: name, logger: logger, lost: lost}
}

// Offer queues an event and reports false when the buffer is full.
func (b *Buffer) Offer(e event.Event) bool {
	select {
	case b.queue <- e:
		return true
	default:
		return false
	}
}

// Cap returns the buffer's size.
func (b *Buffer) Cap() int { return cap(b.queue) }

// Run publishes queued events until ctx is cancelled, then tries for up to 5 seconds to store what is left.
func (b *Buffer) Run(ctx context.Context) error {
	batch := make([]event.Event, 0, 500)
	// take fills the batch after what it holds, in arrival order.
	take := func() {
		for len(batch) < cap(batch) && len(b.queue) > 0 {
			batch = append(batch, <-b.queue)
		}
	}
	for {
		select {
		case e := <-b.queue:
			batch = append(batch[:0], e) // the oldest event first
			take()
			b.publish(ctx, batch)
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			for len(b.queue) > 0 {
				batch = batch[:0]
				take()
				b.publish(sctx, batch)
			}
			return nil
		}
	}
}

func (b *Buffer) publish(ctx context.Context, batch []event.Event) {
	var backoff retry.Backoff // 100 ms doubling to 5 s
	for {
		err := b.sink.Publish(context.WithoutCancel(ctx), batch) // an attempt in flight completes at shutdown
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			b.lost(len(batch))
			b.logger.Error(b.name+" events not stored at shutdown", "events", len(batch), "err", err)
			return
		}
		wait := backoff.Next()
		b.logger.Warn("storing "+b.name+" events failed; retrying", "events", len(batch), "retry_in", wait, "err", err)
		retry.Sleep(ctx, wait)
	}
}
