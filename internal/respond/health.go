package respond

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/vigil-ids/vigil/internal/authapi"
	"github.com/vigil-ids/vigil/internal/natsbus"
)

var errStarting = errors.New("not started yet")

// health keeps, per part of the responder (starting, each consumer), why it does not work, while it does not.
type health struct {
	mu   sync.Mutex
	errs map[string]error
}

func (h *health) set(part string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.errs == nil {
		h.errs = map[string]error{}
	}
	if err == nil {
		delete(h.errs, part)
		return
	}
	h.errs[part] = err
}

func (h *health) err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	parts := make([]string, 0, len(h.errs))
	for p := range h.errs {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	errs := make([]error, len(parts))
	for i, p := range parts {
		errs[i] = fmt.Errorf("%s: %w", p, h.errs[p])
	}
	return errors.Join(errs...)
}

// Health reports why the responder is not ready: not started, disconnected from NATS, a durable consumer (on
// VIGIL_INCIDENTS or the reviews bucket) failing or missing, the decisions bucket unreachable, or no policy loaded. It asks NATS, so
// ctx should be bounded.
func (r *Responder) Health(ctx context.Context) error {
	if err := r.health.err(); err != nil {
		return err
	}
	if lp := r.policy.Load(); lp == nil || lp.policy == nil {
		return errors.New("no containment policy loaded")
	}
	if nc := r.js.Conn(); nc != nil && !nc.IsConnected() {
		return errors.New("not connected to NATS: no incidents or reviews are consumed")
	}
	if _, err := r.js.Consumer(ctx, natsbus.IncidentsStream, r.opts.Consumer); err != nil {
		return fmt.Errorf("incidents consumer %s: %w", r.opts.Consumer, err)
	}
	if _, err := r.js.Consumer(ctx, "KV_"+authapi.ReviewsBucket, r.opts.ReviewConsumer); err != nil {
		return fmt.Errorf("reviews consumer %s: %w", r.opts.ReviewConsumer, err)
	}
	if _, err := r.store.KV().Status(ctx); err != nil {
		return fmt.Errorf("decisions bucket: %w", err)
	}
	return nil
}
