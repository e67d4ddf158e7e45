package decision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Index keeps the bucket's decisions in memory from its live updates, so a policy answer never waits for NATS.
// Lookups skip lifted and expired decisions by themselves; the index holds at most what the bucket holds.
type Index struct {
	store  *Store
	logger *slog.Logger
	ready  chan struct{}
	once   sync.Once

	mu    sync.RWMutex
	byID  map[string]Decision
	users map[string][]string               // user -> decision ids
	nets  map[int]map[netip.Prefix][]string // prefix bits (IPv6: 128 + bits) -> prefix -> decision ids
	bits  []int                             // the keys of nets, sorted

	stored  *prometheus.GaugeVec
	invalid prometheus.Counter
}

// NewIndex returns an index over store; it is empty until Run has loaded the bucket (see Ready).
func NewIndex(store *Store, logger *slog.Logger, reg prometheus.Registerer) *Index {
	f := promauto.With(reg)
	return &Index{
		store: store, logger: logger, ready: make(chan struct{}),
		byID: map[string]Decision{}, users: map[string][]string{}, nets: map[int]map[netip.Prefix][]string{},
		stored: f.NewGaugeVec(prometheus.GaugeOpts{Name: "vigil_decisions_stored",
			Help: "Decisions in this process's index by action, in force or not yet purged."}, []string{"action"}),
		invalid: f.NewCounter(prometheus.CounterOpts{Name: "vigil_decisions_invalid_total",
			Help: "Malformed decision records ignored."}),
	}
}

// Ready is closed once the bucket's current content is loaded.
func (x *Index) Ready() <-chan struct{} { return x.ready }

// Run watches the bucket until ctx is cancelled, restarting the watch when it fails.
func (x *Index) Run(ctx context.Context) error {
	for {
		err := x.watch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		x.logger.Warn("decisions watch ended; restarting", "err", err)
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return nil
		}
	}
}

func (x *Index) watch(ctx context.Context) error {
	w, err := x.store.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch decisions: %w", err)
	}
	defer w.Stop()
	seen := map[string]bool{} // keys delivered since this watch began, to drop keys deleted while it was down
	initial := true
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("watch closed")
			}
			if e == nil {
				if initial {
					x.retain(seen)
					initial, seen = false, nil
					x.once.Do(func() { close(x.ready) })
				}
				continue
			}
			if seen != nil {
				seen[e.Key()] = true
			}
			x.apply(e)
		}
	}
}

func (x *Index) apply(e jetstream.KeyValueEntry) {
	if e.Operation() != jetstream.KeyValuePut {
		x.mu.Lock()
		x.remove(e.Key())
		x.mu.Unlock()
		return
	}
	d, err := Decode(e)
	if err != nil {
		x.invalid.Inc()
		x.logger.Warn("ignoring a malformed decision record", "key", e.Key(), "err", err)
		x.mu.Lock()
		x.remove(e.Key())
		x.mu.Unlock()
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.remove(d.ID)
	x.byID[d.ID] = d
	x.stored.WithLabelValues(string(d.Action)).Inc()
	switch d.Kind {
	case User:
		x.users[d.Subject] = append(x.users[d.Subject], d.ID)
	case Network:
		p := netip.MustParsePrefix(d.Subject)
		k := bitsKey(p)
		m := x.nets[k]
		if m == nil {
			m = map[netip.Prefix][]string{}
			x.nets[k] = m
			x.bits = append(x.bits, k)
			slices.Sort(x.bits)
		}
		m[p] = append(m[p], d.ID)
	}
}

// retain drops every decision whose key the new watch did not deliver (deleted while the watch was down).
func (x *Index) retain(keys map[string]bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for id := range x.byID {
		if !keys[id] {
			x.remove(id)
		}
	}
}

// remove drops a decision by id; x.mu must be held.
func (x *Index) remove(id string) {
	d, ok := x.byID[id]
	if !ok {
		return
	}
	delete(x.byID, id)
	x.stored.WithLabelValues(string(d.Action)).Dec()
	switch d.Kind {
	case User:
		if ids := deleteID(x.users[d.Subject], id); len(ids) > 0 {
			x.users[d.Subject] = ids
		} else {
			delete(x.users, d.Subject)
		}
	case Network:
		p := netip.MustParsePrefix(d.Subject)
		k := bitsKey(p)
		m := x.nets[k]
		if ids := deleteID(m[p], id); len(ids) > 0 {
			m[p] = ids
		} else {
			delete(m, p)
		}
		if len(m) == 0 {
			delete(x.nets, k)
			x.bits = slices.DeleteFunc(x.bits, func(b int) bool { return b == k })
		}
	}
}

func deleteID(ids []string, id string) []string {
	return slices.DeleteFunc(ids, func(s string) bool { return s == id })
}

func bitsKey(p netip.Prefix) int {
	if p.Addr().Is6() {
		return 128 + p.Bits()
	}
	return p.Bits()
}

// Match returns the decision in force at now, on user or on a network containing ip, whose action comes first in
// actions; among decisions with the same action, the one created first. A zero ip or an empty user matches nothing
// of its kind. Match does not allocate.
func (x *Index) Match(user string, ip netip.Addr, now time.Time, actions ...Action) (Decision, bool) {
	user = strings.ToLower(user)
	x.mu.RLock()
	defer x.mu.RUnlock()
	var best Decision
	rank := len(actions)
	consider := func(id string) {
		d := x.byID[id]
		if !d.Active(now) {
			return
		}
		r := slices.Index(actions, d.Action)
		if r < 0 || r > rank || (r == rank && !d.CreatedAt.Before(best.CreatedAt)) {
			return
		}
		best, rank = d, r
	}
	if user != "" {
		for _, id := range x.users[user] {
			consider(id)
		}
	}
	if ip.IsValid() {
		ip = ip.Unmap()
		for _, k := range x.bits {
			bits := k
			if k >= 128 {
				bits = k - 128
			}
			if (k >= 128) != ip.Is6() {
				continue
			}
			p, err := ip.Prefix(bits)
			if err != nil {
				continue
			}
			for _, id := range x.nets[k][p] {
				consider(id)
			}
		}
	}
	return best, rank < len(actions)
}

// ForSubject returns the decisions on a user or network (canonical subject) in the index, in force or not.
func (x *Index) ForSubject(kind Kind, subject string) []Decision {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var ids []string
	switch kind {
	case User:
		ids = x.users[strings.ToLower(subject)]
	case Network:
		if p, err := netip.ParsePrefix(subject); err == nil {
			ids = x.nets[bitsKey(p)][p]
		}
	}
	out := make([]Decision, 0, len(ids))
	for _, id := range ids {
		out = append(out, x.byID[id])
	}
	return out
}

// Active counts the decisions in force at now.
func (x *Index) Active(now time.Time) int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := 0
	for _, d := range x.byID {
		if d.Active(now) {
			n++
		}
	}
	return n
}
