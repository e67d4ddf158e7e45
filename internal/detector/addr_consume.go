package detector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/retry"
	"github.com/vigil-ids/vigil/internal/window"
)

// addrSide runs the address partitions this instance owns: the same partition numbers as its user partitions
// (Options.Owned, or in group mode those the group assigns it), consumed from the address stream, through one
// AddrEngine. It commits incidents before it acknowledges, like the user side, and rebuilds a partition's windows
// by replay at start or, in group mode, when it takes the partition over (see catchUp).
type addrSide struct {
	d       *Detector
	rep     *republisher
	eng     *engine.AddrEngine
	m       *addrMetrics
	stream  jetstream.Stream
	in      chan delivery  // deliveries and resume/release requests for the process loop
	applied map[int]uint64 // per partition: newest stream sequence applied to the engine
	live    map[int]bool   // partitions whose keys the engine holds, up to applied

	mu    sync.Mutex
	owned map[int]bool // live partitions, for OwnedAddr
}

func newAddrSide(d *Detector, reg prometheus.Registerer) *addrSide {
	m := newAddrMetrics(reg)
	return &addrSide{
		d:       d,
		rep:     &republisher{js: d.js, partitions: d.opts.Partitions, m: m},
		eng:     engine.NewAddr(&d.opts.Rules),
		m:       m,
		in:      make(chan delivery, 2*d.opts.BatchSize),
		applied: map[int]uint64{},
		live:    map[int]bool{},
		owned:   map[int]bool{},
	}
}

// OwnedAddr returns the address partitions whose windows this detector holds and whose logins it processes, in
// order.
func (d *Detector) OwnedAddr() []int {
	a := d.addr
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]int, 0, len(a.owned))
	for p := range a.owned {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// own records that the engine holds address partition p's keys (process goroutine, or start before it runs).
func (a *addrSide) own(p int) {
	a.live[p] = true
	a.mu.Lock()
	a.owned[p] = true
	n := len(a.owned)
	a.mu.Unlock()
	a.m.owned.Set(float64(n))
}

// disown forgets address partition p's keys and its progress: another member owns it now (process goroutine).
func (a *addrSide) disown(p int) {
	n := a.d.opts.Partitions
	a.m.keys.Set(float64(a.eng.Forget(func(k netip.Prefix) bool { return event.AddrPartition(k.Addr(), n) == p })))
	delete(a.live, p)
	delete(a.applied, p)
	a.mu.Lock()
	delete(a.owned, p)
	owned := len(a.owned)
	a.mu.Unlock()
	a.m.owned.Set(float64(owned))
}

// start ensures the address stream, (re)creates the owned partitions' consumers and rebuilds the address windows.
// It returns the loop that processes live messages. In group mode it owns nothing yet: runGroup starts the
// fetchers of the address partitions the group assigns, and each is rebuilt when it is taken over.
func (a *addrSide) start(ctx context.Context, events jetstream.Stream) (func(context.Context) error, error) {
	cfg := events.CachedInfo().Config
	stream, err := natsbus.EnsureAddrStream(ctx, a.d.js, cfg.Replicas, cfg.MaxAge)
	if err != nil {
		return nil, fmt.Errorf("detector: %w", err)
	}
	a.stream = stream
	consumers := make(map[int]jetstream.Consumer, len(a.d.opts.Owned))
	floors := make(map[int]uint64, len(a.d.opts.Owned))
	for _, p := range a.d.opts.Owned {
		c, floor, err := a.consumer(ctx, p)
		if err != nil {
			return nil, err
		}
		consumers[p], floors[p] = c, floor
	}
	if err := a.rebuild(ctx, floors); err != nil {
		return nil, err
	}
	for p := range floors {
		a.applied[p] = floors[p]
		a.own(p)
	}
	return func(ctx context.Context) error { return a.run(ctx, consumers) }, nil
}

// consumerConfig is address partition p's durable consumer: as a user partition's (Detector.consumerConfig), a
// pinned priority group in group mode.
func (a *addrSide) consumerConfig(p int) jetstream.ConsumerConfig {
	cfg := jetstream.ConsumerConfig{
		Durable:       natsbus.AddrConsumer(p),
		Description:   fmt.Sprintf("Vigil detector, address partition %d", p),
		FilterSubject: natsbus.AddrSubject(p),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       a.d.opts.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: 4 * a.d.opts.BatchSize,
	}
	a.d.pin(&cfg)
	return cfg
}

// consumer is Detector.consumer for address partition p.
func (a *addrSide) consumer(ctx context.Context, p int) (jetstream.Consumer, uint64, error) {
	cfg := a.consumerConfig(p)
	name := cfg.Durable
	var floor uint64
	old, err := a.stream.Consumer(ctx, name)
	switch {
	case err == nil:
		info, err := old.Info(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("detector: consumer info for address partition %d: %w", p, err)
		}
		floor = info.AckFloor.Stream
		cfg.DeliverPolicy, cfg.OptStartSeq = info.Config.DeliverPolicy, info.Config.OptStartSeq
		changed := info.Config.PriorityPolicy != cfg.PriorityPolicy // left by group mode
		if changed || info.NumAckPending > 0 || info.Delivered.Stream > floor {
			if err := a.stream.DeleteConsumer(ctx, name); err != nil {
				return nil, 0, fmt.Errorf("detector: reset consumer for address partition %d: %w", p, err)
			}
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, floor+1
		}
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil, 0, fmt.Errorf("detector: consumer for address partition %d: %w", p, err)
	}
	c, err := a.stream.CreateOrUpdateConsumer(ctx, cfg)
	if err != nil {
		return nil, 0, fmt.Errorf("detector: consumer for address partition %d: %w", p, err)
	}
	return c, floor, nil
}

// rebuild continues the address incidents of the partitions in floors committed before a restart (or before the
// previous owner stopped) and replays each of those partitions from 24 hours before the stream's newest message up
// to its ack floor.
func (a *addrSide) rebuild(ctx context.Context, floors map[int]uint64) error {
	info, err := a.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("detector: address stream info: %w", err)
	}
	if info.State.Msgs == 0 {
		return nil
	}
	if src, ok := a.d.store.(IncidentSource); ok {
		incs, err := src.Incidents(ctx, info.State.LastTime.Add(-2*window.Span))
		if err != nil {
			return fmt.Errorf("detector: load open address incidents: %w", err)
		}
		for _, inc := range incs {
			if inc.Addr == nil {
				continue
			}
			if key, ok := engine.ParseKey(inc.Addr.Key); ok && hasKey(floors, event.AddrPartition(key.Addr(), a.d.opts.Partitions)) {
				a.eng.Seed(inc)
			}
		}
	}
	for p, floor := range floors {
		if floor == 0 {
			continue
		}
		if err := a.replay(ctx, p, info.State.LastTime.Add(-window.Span), floor); err != nil {
			return err
		}
	}
	a.m.keys.Set(float64(a.eng.Keys()))
	return nil
}

func hasKey(m map[int]uint64, k int) bool {
	_, ok := m[k]
	return ok
}

// catchUp is Detector.catchUp for address partition p: called with everything applied so far committed, before
// p's consumer restarts (after a gap in its deliveries, or on its first delivery after a takeover in group mode).
func (a *addrSide) catchUp(ctx context.Context, p int) (uint64, bool) {
	return a.d.untilDone(ctx, p, func() (uint64, error) { return a.catchUpOnce(ctx, p) })
}

func (a *addrSide) catchUpOnce(ctx context.Context, p int) (uint64, error) {
	c, err := a.stream.Consumer(ctx, natsbus.AddrConsumer(p))
	if err != nil {
		return 0, fmt.Errorf("address consumer info: %w", err)
	}
	floor := c.CachedInfo().AckFloor.Stream
	if a.live[p] && floor <= a.applied[p] {
		return a.applied[p] + 1, nil
	}
	if a.live[p] {
		a.disown(p)
	}
	if err := a.rebuild(ctx, map[int]uint64{p: floor}); err != nil {
		return 0, err
	}
	a.applied[p] = floor
	a.own(p)
	a.m.takeovers.Inc()
	a.d.logger.Info("address partition taken over", "partition", p, "ack_floor", floor)
	return floor + 1, nil
}

func (a *addrSide) replay(ctx context.Context, p int, startTime time.Time, floor uint64) error {
	oc, err := a.d.js.OrderedConsumer(ctx, natsbus.AddrStream, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{natsbus.AddrSubject(p)},
		DeliverPolicy:     jetstream.DeliverByStartTimePolicy,
		OptStartTime:      &startTime,
		InactiveThreshold: 10 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("detector: replay address partition %d: %w", p, err)
	}
	ci, err := oc.Info(ctx)
	if err != nil {
		return fmt.Errorf("detector: replay address partition %d: %w", p, err)
	}
	if ci.NumPending == 0 {
		return nil
	}
	it, err := oc.Messages(jetstream.PullMaxMessages(a.d.opts.BatchSize))
	if err != nil {
		return fmt.Errorf("detector: replay address partition %d: %w", p, err)
	}
	defer it.Stop()
	var (
		ev   event.AddrEvent
		incs []incident.Incident
	)
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("detector: replay address partition %d: %w", p, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("detector: replay address partition %d: %w", p, err)
		}
		if meta.Sequence.Stream > floor {
			return nil
		}
		for line := range bytes.Lines(msg.Data()) {
			if event.UnmarshalAddr(bytes.TrimSuffix(line, []byte{'\n'}), &ev) == nil {
				incs = a.eng.Process(&ev, incs[:0])
			}
		}
		if meta.Sequence.Stream == floor || meta.NumPending == 0 {
			return nil
		}
	}
}

// run processes the address partitions' live messages until ctx is cancelled, committing what it holds before it
// returns.
func (a *addrSide) run(ctx context.Context, consumers map[int]jetstream.Consumer) error {
	g, gctx := errgroup.WithContext(ctx)
	for p, c := range consumers {
		next := c.CachedInfo().Delivered.Consumer + 1
		g.Go(func() error { return a.d.fetch(gctx, a.stream, p, c, next, a.in) })
	}
	g.Go(func() error { return a.process(gctx, a.in) })
	return g.Wait()
}

func (a *addrSide) process(ctx context.Context, in <-chan delivery) error {
	pending := map[string]incident.Incident{}
	last := map[int]jetstream.Msg{}
	msgs := 0
	flushT := time.NewTimer(time.Hour)
	flushT.Stop()
	evict := time.NewTicker(30 * time.Second)
	defer evict.Stop()
	var (
		ev   event.AddrEvent
		incs []incident.Incident
	)
	flush := func() error {
		if msgs == 0 {
			return nil
		}
		if err := a.commit(ctx, pending, last); err != nil {
			return err
		}
		clear(pending)
		clear(last)
		msgs = 0
		return nil
	}
	for {
		select {
		case dv := <-in:
			if dv.resume != nil || dv.release != nil {
				// fetch saw a gap or a takeover, or runGroup hands the partition over: commit first.
				if err := flush(); err != nil {
					return nil
				}
				if dv.release != nil {
					live := a.live[dv.partition]
					a.disown(dv.partition)
					dv.release <- live
				} else if from, ok := a.catchUp(ctx, dv.partition); ok {
					dv.resume <- from
				} else {
					return nil
				}
				continue
			}
			if msgs == 0 {
				flushT.Reset(a.d.opts.FlushInterval)
			}
			msgs++
			last[dv.partition] = dv.msg
			meta := dv.meta
			if meta == nil {
				a.d.deadLetter(ctx, dv, "no JetStream metadata")
				continue
			}
			if meta.Sequence.Stream <= a.applied[dv.partition] {
				continue
			}
			a.applied[dv.partition] = meta.Sequence.Stream
			var bad error
			for line := range bytes.Lines(dv.msg.Data()) {
				if err := event.UnmarshalAddr(bytes.TrimSuffix(line, []byte{'\n'}), &ev); err != nil {
					bad = err
					continue
				}
				a.m.events.Inc()
				incs = a.eng.Process(&ev, incs[:0])
				for _, inc := range incs {
					if old, ok := pending[inc.ID]; !ok || inc.Version > old.Version {
						pending[inc.ID] = inc
					}
				}
			}
			if bad != nil { // the good lines are applied; the message is kept with the reason
				a.d.deadLetter(ctx, dv, bad.Error())
			}
			if msgs >= a.d.opts.BatchSize {
				flushT.Stop()
				if err := flush(); err != nil {
					return nil
				}
			}
		case <-flushT.C:
			if err := flush(); err != nil {
				return nil
			}
		case <-evict.C:
			a.m.keys.Set(float64(a.eng.Evict()))
		case <-ctx.Done():
			if err := flush(); err != nil {
				a.d.logger.Warn("address batch not committed at shutdown; JetStream will redeliver it", "err", err)
			}
			return nil
		}
	}
}

// commit writes the pending incidents (retrying while the store fails), stores them in the incidents stream
// (retrying too), and only then acknowledges the newest message of each partition.
func (a *addrSide) commit(ctx context.Context, pending map[string]incident.Incident, last map[int]jetstream.Msg) error {
	incs := make([]incident.Incident, 0, len(pending))
	for _, inc := range pending {
		incs = append(incs, inc)
	}
	slices.SortFunc(incs, func(a, b incident.Incident) int { return strings.Compare(a.ID, b.ID) })
	if len(incs) > 0 {
		backoff := retry.Backoff{Max: maxBackoff}
		for {
			err := a.d.store.Write(context.WithoutCancel(ctx), nil, nil, incs)
			if err == nil {
				a.d.commitErr.Store(nil)
				break
			}
			a.d.commitErr.Store(&err)
			a.d.m.commitErrors.Inc()
			a.d.logger.Warn("address incidents not committed; holding them and retrying", "incidents", len(incs), "err", err)
			if !retry.Sleep(ctx, backoff.Next()) {
				return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
			}
		}
	}
	if err := a.d.publishIncidents(ctx, incs); err != nil {
		return err // not acknowledged: redelivered, committed and published again (deduplicated) after a restart
	}
	for _, m := range last {
		if err := m.Ack(); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			a.d.logger.Debug("ack failed; the messages will be redelivered and deduplicated", "err", err)
		}
	}
	for _, inc := range incs {
		if inc.Version == 1 {
			a.d.m.incidents.WithLabelValues(string(inc.Rule)).Inc()
		}
		a.d.m.incidentUpdates.WithLabelValues(string(inc.Rule)).Inc()
	}
	return nil
}
