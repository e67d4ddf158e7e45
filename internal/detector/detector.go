package detector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/retry"
)

// Detector consumes its partitions and keeps their users' windows. Its state is rebuilt from the stream at start.
type Detector struct {
	js         jetstream.JetStream
	store      Store
	opts       Options
	logger     *slog.Logger
	m          *metrics
	eng        *engine.Engine
	applied    map[int]uint64 // per partition: newest stream sequence applied to the engine
	live       map[int]bool   // partitions whose users' windows the engine holds, up to applied
	ownedMu    sync.Mutex
	owned      map[int]bool // live partitions, for Owned
	assigned   []int        // group mode: partitions the group assigns to this member, sorted
	pending    map[int]prometheus.Gauge
	ready      chan struct{}
	once       sync.Once
	commitErr  atomic.Pointer[error] // the last commit's error; nil once a commit succeeds
	publishErr atomic.Pointer[error] // the last failure to store incident versions in VIGIL_INCIDENTS; nil once it works
	addr       *addrSide             // the address partitions (addr_consume.go) and the republisher feeding them

	wholeStream bool           // static mode owning every partition: one consumer over the stream (whole.go)
	skip        map[int]uint64 // while the whole-stream consumer takes over: per partition, the floor already applied
	skipUntil   uint64         // the highest of skip's floors
	retireAt    atomic.Uint64  // the whole-stream consumer's ack that retires the partitions' consumers; 0: none

	decoded event.Event // apply's event, reused: the engine copies what it keeps
}

// A batch holding a new incident is committed newIncidentFlush after the incident (instead of when full or after
// FlushInterval), but not sooner than newIncidentSpacing after the batch before it was handed over: under a storm
// of new incidents, batches still hold what arrives in that time (10,000 rows from 40,000 events/s), so
// ClickHouse is not sent many small inserts.
const (
	newIncidentFlush   = 100 * time.Millisecond
	newIncidentSpacing = 250 * time.Millisecond
)

// opensIncident reports whether incs, an event's incidents, opens one.
func opensIncident(incs []incident.Incident) bool {
	for i := range incs {
		if incs[i].Version == 1 {
			return true
		}
	}
	return false
}

// maxBackoff bounds the wait between two commit attempts, so commits resume within a few seconds of ClickHouse
// returning.
const maxBackoff = 2 * time.Second

// Health reports why the detector is not ready: still rebuilding its windows, failing to commit to the store, or
// failing to store incident versions in the incidents stream.
func (d *Detector) Health() error {
	select {
	case <-d.ready:
	default:
		return errors.New("rebuilding windows")
	}
	if err := d.commitErr.Load(); err != nil {
		return fmt.Errorf("commits failing: %w", *err)
	}
	if err := d.publishErr.Load(); err != nil {
		return fmt.Errorf("incidents not stored in %s: %w", natsbus.IncidentsStream, *err)
	}
	return nil
}

// New returns a Detector. geo may be nil (no geolocation); trust returns the current trusted networks.
func New(js jetstream.JetStream, store Store, geo engine.Geo, trust func() engine.Trust, opts Options, logger *slog.Logger, reg prometheus.Registerer) (*Detector, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	d := &Detector{
		js:      js,
		store:   store,
		opts:    opts,
		logger:  logger,
		m:       newMetrics(reg),
		applied: make(map[int]uint64),
		live:    make(map[int]bool),
		owned:   make(map[int]bool),
		ready:   make(chan struct{}),
	}
	d.eng = engine.New(&d.opts.Rules, geo, trust)
	d.addr = newAddrSide(d, reg)
	d.wholeStream = !opts.Group && len(opts.Owned) == opts.Partitions // Validate: distinct and in range
	d.pending = make(map[int]prometheus.Gauge, len(d.opts.Owned))     // resolved once per consumer, not per message
	for _, k := range d.keys() {
		d.pending[k] = d.m.pending.WithLabelValues(partitionLabel(k))
	}
	return d, nil
}

// Ready is closed once the windows have been rebuilt and live processing has started.
func (d *Detector) Ready() <-chan struct{} { return d.ready }

// delivery is one message from a partition's consumer, or a request about the partition: with resume, to commit
// everything applied so far, bring its windows up to date and be told the stream sequence to restart its consumer
// at; with release, to commit everything applied so far and forget the partition's users (answered with whether
// the engine held them).
type delivery struct {
	partition int
	msg       jetstream.Msg
	meta      *jetstream.MsgMetadata // msg's, parsed by fetch; nil when it has none
	resume    chan<- uint64
	release   chan<- bool
}

// Run rebuilds the windows, then processes live messages until ctx is cancelled. It flushes what it holds before
// returning. In group mode it joins the group instead and rebuilds each partition's windows when it takes the
// partition over.
func (d *Detector) Run(ctx context.Context) error {
	stream, err := d.js.Stream(ctx, d.opts.Stream)
	if err != nil {
		return fmt.Errorf("detector: stream %s: %w", d.opts.Stream, err)
	}
	if err := natsbus.EnsureDLQ(ctx, d.js, 0); err != nil {
		return fmt.Errorf("detector: %w", err)
	}
	if _, err := natsbus.EnsureIncidentsStream(ctx, d.js, stream.CachedInfo().Config.Replicas); err != nil {
		return fmt.Errorf("detector: %w", err)
	}
	consumers := make(map[int]jetstream.Consumer, len(d.opts.Owned))
	floors := make(map[int]uint64, len(d.opts.Owned))
	var wholeFloor uint64
	if d.wholeStream {
		c, floor, fl, err := d.wholeConsumer(ctx, stream)
		if err != nil {
			return err
		}
		consumers[allPartitions], floors, wholeFloor = c, fl, floor
	} else {
		for _, p := range d.opts.Owned {
			c, floor, err := d.consumer(ctx, stream, p)
			if err != nil {
				return err
			}
			consumers[p], floors[p] = c, floor
		}
		d.retireWhole(ctx, stream)
	}
	if err := d.rebuild(ctx, stream, floors); err != nil {
		return err
	}
	if d.wholeStream {
		d.applied[allPartitions] = wholeFloor
		d.own(allPartitions)
	} else {
		for p := range floors {
			d.own(p)
		}
	}
	runAddr, err := d.addr.start(ctx, stream)
	if err != nil {
		return err
	}

	deliveries := make(chan delivery, 2*d.opts.BatchSize)
	g, gctx := errgroup.WithContext(ctx)
	for p, c := range consumers {
		next := c.CachedInfo().Delivered.Consumer + 1
		g.Go(func() error { return d.fetch(gctx, stream, p, c, next, deliveries) })
	}
	if d.opts.Group {
		users := &partitionSet{what: "user", stream: stream, out: deliveries, config: d.consumerConfig,
			starting: func(p int) { d.m.pending.WithLabelValues(strconv.Itoa(p)) }} // the partition has an owner from now on
		addrs := &partitionSet{what: "address", stream: d.addr.stream, out: d.addr.in, config: d.addr.consumerConfig}
		g.Go(func() error { return d.runGroup(gctx, users, addrs) })
	}
	commits := make(chan *batch)
	free := make(chan *batch, 2) // double buffering: one batch fills while the other commits
	free <- newBatch()
	free <- newBatch()
	g.Go(func() error { return d.process(gctx, stream, deliveries, commits, free) })
	g.Go(func() error { return d.commit(gctx, commits, free) })
	g.Go(func() error { return runAddr(gctx) })
	if !d.opts.Group {
		d.once.Do(func() { close(d.ready) })
	}
	return g.Wait()
}

// process applies messages to the engine and hands full batches (or, after FlushInterval, partial ones) to the
// committer. It closes commits when it returns.
func (d *Detector) process(ctx context.Context, stream jetstream.Stream, in <-chan delivery, commits chan<- *batch, free chan *batch) error {
	defer close(commits)
	b := <-free
	flushT := time.NewTimer(time.Hour)
	flushT.Stop()
	evict := time.NewTicker(30 * time.Second)
	defer evict.Stop()
	var handedOff time.Time // when the last batch went to the committer
	handOff := func() bool {
		handedOff = time.Now()
		select {
		case commits <- b:
		case <-ctx.Done():
			commits <- b // the committer drains before it stops
			return false
		}
		b = <-free
		return true
	}
	// settle commits every batch handed over so far, b included: it returns once the committer gave both batches
	// back, and false when the detector stops (a commit fails only then).
	settle := func() bool {
		flushT.Stop()
		if !b.empty() && !handOff() {
			return false
		}
		other := <-free
		free <- other
		return ctx.Err() == nil
	}
	var incs []incident.Incident
	for {
		select {
		case dv := <-in:
			if dv.resume != nil || dv.release != nil {
				if !settle() {
					return nil
				}
				if dv.release != nil {
					live := d.live[dv.partition]
					d.disown(dv.partition)
					dv.release <- live
				} else if from, ok := d.catchUp(ctx, stream, dv.partition); ok {
					dv.resume <- from
				} else {
					return nil
				}
				continue
			}
			if b.empty() {
				flushT.Reset(d.opts.FlushInterval)
				b.due = time.Now().Add(d.opts.FlushInterval)
			}
			incs = d.apply(ctx, dv, b, incs[:0])
			if !b.opens && opensIncident(incs) {
				// A new incident is what containment waits for: its batch is committed soon, not when full.
				b.opens = true
				at := time.Now().Add(newIncidentFlush)
				if spaced := handedOff.Add(newIncidentSpacing); spaced.After(at) {
					at = spaced
				}
				if at.Before(b.due) {
					flushT.Reset(time.Until(at))
				}
			}
			if b.rows() >= d.opts.BatchSize {
				flushT.Stop()
				if !handOff() {
					return nil
				}
			}
		case <-flushT.C:
			if !b.empty() && !handOff() {
				return nil
			}
		case <-evict.C:
			d.m.users.Set(float64(d.eng.Evict()))
		case <-ctx.Done():
			if !b.empty() {
				commits <- b
			}
			return nil
		}
	}
}

// commit writes the batches it is handed, in order. Once a batch could not be committed (shutdown during an
// outage), later batches are not committed either: acknowledging them would acknowledge the failed one too. Their
// messages are redelivered after a restart.
func (d *Detector) commit(ctx context.Context, in <-chan *batch, free chan<- *batch) error {
	failed := false
	for b := range in {
		if !failed {
			if err := d.flush(ctx, b); err != nil {
				failed = true
				d.logger.Warn("batch not committed at shutdown; JetStream will redeliver it", "rows", b.rows(), "err", err)
			}
		}
		b.reset()
		free <- b
	}
	return nil
}

// apply runs one message through the engine and adds its row, incidents and message to the batch.
func (d *Detector) apply(ctx context.Context, dv delivery, b *batch, incs []incident.Incident) []incident.Incident {
	meta := dv.meta
	if meta == nil {
		d.deadLetter(ctx, dv, "no JetStream metadata")
		return incs
	}
	g, ok := d.pending[dv.partition]
	if !ok {
		g = d.m.pending.WithLabelValues(partitionLabel(dv.partition))
		d.pending[dv.partition] = g
	}
	g.Set(float64(meta.NumPending))
	seq := meta.Sequence.Stream
	b.add(dv)
	if seq <= d.applied[dv.partition] {
		// A redelivery after AckWait (the batch took longer to commit): fetch saw no gap in the consumer's delivery
		// sequence, so every message of the partition up to d.applied was received and applied, this one too. Its rows
		// are in this batch or an earlier one, committed before this batch's ack.
		d.m.redelivered.Inc()
		return incs
	}
	d.applied[dv.partition] = seq
	if d.skip != nil && d.skipped(dv.msg.Subject(), seq) {
		return incs // applied through its partition's own consumer before the whole-stream consumer took over
	}
	ev := &d.decoded
	if err := event.Unmarshal(dv.msg.Data(), ev); err != nil {
		d.deadLetter(ctx, dv, err.Error()) // the batch's ack of a later message covers it too
		return incs
	}
	known := d.known(ev)
	rec, incs := d.eng.Process(ev, incs)
	d.addr.rep.add(ev, rec.Trusted, known)
	d.m.events.WithLabelValues(string(ev.Kind)).Inc()
	if ev.Kind == event.KindLogin {
		b.logins = append(b.logins, rec)
	} else {
		b.sends = append(b.sends, rec)
	}
	for _, inc := range incs {
		if old, ok := b.incidents[inc.ID]; !ok || inc.Version > old.Version {
			b.incidents[inc.ID] = inc
		}
	}
	return incs
}

// deadLetter copies a message that cannot be processed to the dead-letter stream and terminates it.
func (d *Detector) deadLetter(ctx context.Context, dv delivery, reason string) {
	d.m.deadLetters.Inc()
	d.logger.Warn("message sent to the dead-letter stream", "partition", dv.partition, "subject", dv.msg.Subject(), "reason", reason)
	if err := natsbus.DeadLetter(ctx, d.js, dv.msg, reason); err != nil {
		d.logger.Error("dead letter", "subject", dv.msg.Subject(), "err", err)
	}
}

// flush commits the batch, retrying with backoff while the store fails, then stores its incident versions in the
// incidents stream (retrying too) and only then acknowledges its messages. A write in progress is not interrupted by ctx (only bounded by the store's own
// timeout); flush returns an error when ctx ends before a write succeeded.
func (d *Detector) flush(ctx context.Context, b *batch) error {
	if b.empty() {
		return nil
	}
	incs := b.sortedIncidents()
	backoff := retry.Backoff{Max: maxBackoff}
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := d.store.Write(context.WithoutCancel(ctx), b.logins, b.sends, incs)
		if err == nil {
			d.m.commitSeconds.Observe(time.Since(start).Seconds())
			d.commitErr.Store(nil)
			break
		}
		d.commitErr.Store(&err)
		d.m.commitErrors.Inc()
		wait := backoff.Next()
		d.logger.Warn("commit failed; holding the batch and retrying", "rows", b.rows(), "attempt", attempt, "retry_in", wait, "err", err)
		if !retry.Sleep(ctx, wait) {
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		}
	}
	if err := d.addr.rep.publish(ctx); err != nil {
		return err // not acknowledged: redelivered and republished after a restart
	}
	if err := d.publishIncidents(ctx, incs); err != nil {
		return err // not acknowledged: redelivered, committed and published again (deduplicated) after a restart
	}
	d.m.batchRows.Observe(float64(b.rows()))
	for _, m := range b.last {
		if err := m.Ack(); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			d.logger.Debug("ack failed; the messages will be redelivered and deduplicated", "err", err)
		}
	}
	if m, ok := b.last[allPartitions]; ok && d.retireAt.Load() != 0 {
		if meta, err := m.Metadata(); err == nil {
			d.retired(ctx, meta.Sequence.Stream)
		}
	}
	for _, inc := range incs {
		if inc.Version == 1 {
			d.m.incidents.WithLabelValues(string(inc.Rule)).Inc()
		}
		d.m.incidentUpdates.WithLabelValues(string(inc.Rule)).Inc()
	}
	b.reset()
	return nil
}

// batch is what the detector holds between two commits.
type batch struct {
	logins, sends []event.Enriched
	incidents     map[string]incident.Incident
	last          map[int]jetstream.Msg // per partition, the newest message: acking it acknowledges the others
	msgs          int
	due           time.Time // when the batch is committed at the latest (its first message + FlushInterval)
	opens         bool      // it holds a new incident (committed after newIncidentFlush)
}

func newBatch() *batch {
	return &batch{incidents: map[string]incident.Incident{}, last: map[int]jetstream.Msg{}}
}

func (b *batch) add(dv delivery) {
	b.last[dv.partition] = dv.msg
	b.msgs++
}

func (b *batch) rows() int   { return len(b.logins) + len(b.sends) + len(b.incidents) }
func (b *batch) empty() bool { return b.msgs == 0 }
func (b *batch) reset() {
	b.logins, b.sends, b.msgs, b.opens = b.logins[:0], b.sends[:0], 0, false
	clear(b.incidents)
	clear(b.last)
}

func (b *batch) sortedIncidents() []incident.Incident {
	out := make([]incident.Incident, 0, len(b.incidents))
	for _, inc := range b.incidents {
		out = append(out, inc)
	}
	slices.SortFunc(out, func(a, b incident.Incident) int { return strings.Compare(a.ID, b.ID) })
	return out
}
