package natsbus

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// recorder is a sink that keeps the ids it was given, in order.
type recorder struct {
	mu  sync.Mutex
	ids []string
}

func (r *recorder) Publish(_ context.Context, evs []event.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range evs {
		r.ids = append(r.ids, e.ID)
	}
	return nil
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

// TestBufferKeepsOrder queues more events than one batch holds before Run starts: the sink must see them in the
// order they were offered (the oldest of a batch used to be published last).
func TestBufferKeepsOrder(t *testing.T) {
	rec := &recorder{}
	b := NewBuffer(rec, 2000, "test", slog.New(slog.DiscardHandler), func(int) {})
	const n = 1234
	for i := range n {
		if !b.Offer(event.Event{ID: strconv.Itoa(i)}) {
			t.Fatalf("Offer %d refused", i)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for rec.len() < n {
		if time.Now().After(deadline) {
			t.Fatalf("sink got %d of %d events", rec.len(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	for i, id := range rec.ids {
		if id != strconv.Itoa(i) {
			t.Fatalf("event %d published was %s; want %d (order %v...)", i, id, i, rec.ids[:min(5, len(rec.ids))])
		}
	}
}
