package trustkv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/vigil-ids/vigil/internal/netset"
)

// Watcher keeps a current netset.Set from the bucket's live updates.
type Watcher struct {
	store  *Store
	logger *slog.Logger
	set    atomic.Pointer[netset.Set]
	ready  chan struct{}
	once   sync.Once
	gauge  prometheus.Gauge
	bad    prometheus.Counter
}

// NewWatcher returns a Watcher over store; Set is empty until Run has loaded the bucket.
func NewWatcher(store *Store, logger *slog.Logger, reg prometheus.Registerer) *Watcher {
	f := promauto.With(reg)
	w := &Watcher{
		store:  store,
		logger: logger,
		ready:  make(chan struct{}),
		gauge:  f.NewGauge(prometheus.GaugeOpts{Name: "vigil_trusted_networks", Help: "Trusted network ranges in effect."}),
		bad:    f.NewCounter(prometheus.CounterOpts{Name: "vigil_trusted_networks_invalid_total", Help: "Malformed trusted network records ignored."}),
	}
	w.set.Store(netset.NewSet(nil))
	return w
}

// Set returns the ranges in effect; never nil.
func (w *Watcher) Set() *netset.Set { return w.set.Load() }

// Ready is closed once the bucket's current content is loaded.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

// Run watches the bucket until ctx is cancelled, rebuilding the set after each burst of changes.
func (w *Watcher) Run(ctx context.Context) error {
	for {
		err := w.watch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		w.logger.Warn("trusted networks watch ended; restarting", "err", err)
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return nil
		}
	}
}

func (w *Watcher) watch(ctx context.Context) error {
	kw, err := w.store.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch trusted networks: %w", err)
	}
	defer kw.Stop()
	entries := map[string]netset.Entry{}
	initial := true
	dirty := false
	var flush <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-flush:
			flush = nil
			w.publish(entries)
			dirty = false
		case upd, ok := <-kw.Updates():
			if !ok {
				return errors.New("watcher closed")
			}
			if upd == nil { // end of the initial values
				if initial {
					initial = false
					w.publish(entries)
					dirty = false
					w.once.Do(func() { close(w.ready) })
				}
				continue
			}
			key := upd.Key()
			if upd.Operation() != jetstream.KeyValuePut {
				delete(entries, key)
			} else if e, err := decode(key, upd.Value()); err != nil {
				w.bad.Inc()
				w.logger.Warn("ignoring malformed trusted network record", "key", key, "err", err)
				delete(entries, key)
			} else {
				entries[key] = e
			}
			if !initial && !dirty {
				dirty = true
				flush = time.After(50 * time.Millisecond) // coalesce bursts
			}
		}
	}
}

func (w *Watcher) publish(entries map[string]netset.Entry) {
	list := make([]netset.Entry, 0, len(entries))
	for _, e := range entries {
		list = append(list, e)
	}
	s := netset.NewSet(list)
	w.set.Store(s)
	w.gauge.Set(float64(s.Len()))
}
