package respond

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/authapi"
)

// reviewCache keeps every incident's current review status from a watch on the reviews bucket, so deciding an
// incident version asks no round trip to NATS whether it was resolved.
type reviewCache struct {
	mu     sync.RWMutex
	status map[string]string // incident id -> status of its newest review
	ready  chan struct{}
	once   sync.Once
}

func newReviewCache() *reviewCache {
	return &reviewCache{status: map[string]string{}, ready: make(chan struct{})}
}

// resolved reports whether the incident's newest review resolved it.
func (c *reviewCache) resolved(id string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.status[id] == authapi.StatusResolved
}

// watchReviews fills the cache until ctx is cancelled, restarting the watch when it fails.
func (r *Responder) watchReviews(ctx context.Context, kv jetstream.KeyValue) error {
	for {
		err := r.watchReviewsOnce(ctx, kv)
		if ctx.Err() != nil {
			return nil
		}
		r.m.errors.WithLabelValues("reviews_watch").Inc()
		r.logger.Warn("reviews watch ended; restarting", "err", err)
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return nil
		}
	}
}

func (r *Responder) watchReviewsOnce(ctx context.Context, kv jetstream.KeyValue) error {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer w.Stop()
	c := r.revCache
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("watch closed")
			}
			if e == nil {
				c.once.Do(func() { close(c.ready) })
				continue
			}
			c.mu.Lock()
			if e.Operation() != jetstream.KeyValuePut {
				delete(c.status, e.Key())
			} else if rev, err := authapi.DecodeReview(e); err == nil {
				c.status[e.Key()] = rev.Status
			}
			c.mu.Unlock()
		}
	}
}
