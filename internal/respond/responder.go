package respond

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/vigil-ids/vigil/internal/authapi"
	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/retry"
	"github.com/vigil-ids/vigil/internal/trustkv"
)

// Auditor receives the audit record of every decision and lift (the auth API's auditor).
type Auditor interface {
	Audit(authapi.AuditRecord)
}

// Quarantine releases the mail held because of an incident that turned out harmless.
type Quarantine interface {
	ReleaseIncident(ctx context.Context, incidentID, by string) error
}

// Kicker ends a user's live IMAP/POP3 sessions.
type Kicker interface {
	Kick(ctx context.Context, user string) error
}

// Default names and intervals.
const (
	DefaultConsumer       = "vigil-responder"
	DefaultReviewConsumer = "vigil-responder-reviews"
	DefaultPurgeInterval  = time.Hour
)

// Options configures a Responder.
type Options struct {
	Policy *Policy // default the recommended policy (observe); nil with PolicyFile
	// PolicyFile is the policy's file (VIGIL_CONTAINMENT_POLICY); New reads it, and the responder reads it again on
	// every Reload and whenever its content changed (checked every PolicyCheck, default 10s).
	PolicyFile     string
	PolicyCheck    time.Duration
	Reload         <-chan struct{} // reload requests (SIGHUP); nil: none
	Replicas       int             // replicas of the incidents stream and the reviews bucket; default 1
	Consumer       string          // durable consumer on VIGIL_INCIDENTS; default vigil-responder
	ReviewConsumer string          // durable consumer on the reviews bucket's stream; default vigil-responder-reviews
	PurgeInterval  time.Duration
	// TrustPoll is how often the trusted networks are checked for a change; default 200ms.
	TrustPoll  time.Duration
	Auditor    Auditor    // nil: no audit records
	Quarantine Quarantine // nil: no held mail to release
	Kicker     Kicker     // nil: kick decisions are stored but nobody is kicked
	// KickRetry is the wait after a kick's first failed attempt, doubling after each further one up to
	// KickRetryMax; defaults 1s and 5m.
	KickRetry, KickRetryMax time.Duration
	// KickLease is how long a responder's claim on a kick attempt keeps the others off it; if it stops meanwhile,
	// another tries once the lease ran out. Default 30s; one doveadm call is cut off after the lease or 10s,
	// whichever is shorter.
	KickLease time.Duration
	Now       func() time.Time
}

func (o *Options) setDefaults() {
	if o.Policy == nil && o.PolicyFile == "" {
		o.Policy = RecommendedPolicy()
	}
	if o.PolicyCheck <= 0 {
		o.PolicyCheck = DefaultPolicyCheck
	}
	if o.Replicas < 1 {
		o.Replicas = 1
	}
	if o.Consumer == "" {
		o.Consumer = DefaultConsumer
	}
	if o.ReviewConsumer == "" {
		o.ReviewConsumer = DefaultReviewConsumer
	}
	if o.PurgeInterval <= 0 {
		o.PurgeInterval = DefaultPurgeInterval
	}
	if o.TrustPoll <= 0 {
		o.TrustPoll = 200 * time.Millisecond
	}
	if o.KickRetry <= 0 {
		o.KickRetry = time.Second
	}
	if o.KickRetryMax < o.KickRetry {
		o.KickRetryMax = max(o.KickRetry, 5*time.Minute)
	}
	if o.KickLease <= 0 {
		o.KickLease = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Responder turns incidents into containment decisions by the policy and lifts them when an incident is resolved
// as harmless or a trusted range covers them.
type Responder struct {
	js       jetstream.JetStream
	store    *decision.Store
	index    *decision.Index
	ownIdx   bool
	trust    *trustkv.Store
	trustW   *trustkv.Watcher
	opts     Options
	logger   *slog.Logger
	m        *metrics
	reviews  jetstream.KeyValue
	recent   *recent
	kicksKV  jetstream.KeyValue // how far each kick decision was carried out (kicker.go)
	kickWake chan struct{}      // a new kick decision was stored
	instance string             // this responder's name in kick records
	ready    chan struct{}

	trustCache atomic.Pointer[trustState] // the trusted networks as last read (lift.go)
	fed        atomic.Uint64              // the newest incidents stream sequence the feed has read (feed.go)
	revCache   *reviewCache               // every incident's review status (reviews.go)

	policy   atomic.Pointer[loadedPolicy] // the policy in force, swapped by a reload (reload.go)
	reloadMu sync.Mutex                   // one reload at a time
	health   health                       // why the responder cannot consume, while it cannot (health.go)

	made       map[string]time.Time // decision ids stored, until their expiry: a later version skips them (incidents loop only)
	madePruned time.Time
}

// New returns a Responder writing into store. index may be nil (the responder then runs its own over store); trust
// and trustW may be nil (no lifting by trusted range).
func New(js jetstream.JetStream, store *decision.Store, index *decision.Index, trust *trustkv.Store, trustW *trustkv.Watcher,
	opts Options, logger *slog.Logger, reg prometheus.Registerer) (*Responder, error) {
	opts.setDefaults()
	if store == nil {
		return nil, errors.New("responder: a decision store is required")
	}
	if (trust == nil) != (trustW == nil) {
		return nil, errors.New("responder: the trusted network store and its watcher come together")
	}
	lp := &loadedPolicy{policy: opts.Policy}
	if opts.PolicyFile != "" {
		if opts.Policy != nil {
			return nil, errors.New("responder: a policy or a policy file, not both")
		}
		var err error
		if lp, err = readPolicyFile(opts.PolicyFile); err != nil {
			return nil, err
		}
	}
	r := &Responder{js: js, store: store, index: index, trust: trust, trustW: trustW, opts: opts, logger: logger,
		m: newMetrics(reg), recent: newRecent(), revCache: newReviewCache(), made: map[string]time.Time{}, kickWake: make(chan struct{}, 1), instance: instanceName(), ready: make(chan struct{})}
	if index == nil {
		r.index, r.ownIdx = decision.NewIndex(store, logger, prometheus.NewRegistry()), true
	}
	r.policy.Store(lp)
	r.m.policyLoaded.SetToCurrentTime()
	r.health.set("starting", errStarting)
	return r, nil
}

// instanceName returns a name for this responder that no other one shares: the host name and random digits.
func instanceName() string {
	host, _ := os.Hostname()
	if len(host) > 64 {
		host = host[:64]
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return host + "-" + hex.EncodeToString(b)
}

// Ready is closed once the responder consumes incidents.
func (r *Responder) Ready() <-chan struct{} { return r.ready }

// Run consumes incidents and reviews, watches the trusted networks and purges old decisions until ctx is
// cancelled. Setting up its stream, bucket and consumers is retried while NATS refuses it.
func (r *Responder) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	if r.ownIdx {
		g.Go(func() error { return r.index.Run(gctx) })
	}
	g.Go(func() error { return r.watchPolicy(gctx) })
	g.Go(func() error {
		var incs, revs jetstream.Consumer
		backoff := retry.Backoff{Max: 10 * time.Second}
		for {
			var err error
			if incs, revs, err = r.start(gctx); err == nil {
				break
			}
			if gctx.Err() != nil {
				return nil
			}
			r.m.errors.WithLabelValues("start").Inc()
			r.health.set("starting", err)
			r.logger.Warn("responder not started yet; retrying", "err", err)
			if !retry.Sleep(gctx, backoff.Next()) {
				return nil
			}
		}
		r.health.set("starting", nil)
		close(r.ready)
		w, wctx := errgroup.WithContext(gctx)
		w.Go(func() error { return r.feed(wctx) })
		w.Go(func() error { return r.watchReviews(wctx, r.reviews) })
		w.Go(func() error { return r.consumeIncidents(wctx, incs) })
		w.Go(func() error { return r.consumeReviews(wctx, revs) })
		w.Go(func() error { return r.watchTrust(wctx) })
		w.Go(func() error { return r.janitor(wctx) })
		w.Go(func() error { return r.kickWorker(wctx) })
		return w.Wait()
	})
	return g.Wait()
}

// start ensures the incidents stream, the reviews bucket, the kicks bucket (with a kicker) and the durable
// consumers, waits for the decision index and the trusted networks.
func (r *Responder) start(ctx context.Context) (incs, revs jetstream.Consumer, err error) {
	if _, err := natsbus.EnsureIncidentsStream(ctx, r.js, r.opts.Replicas); err != nil {
		return nil, nil, fmt.Errorf("responder: %w", err)
	}
	if r.reviews, err = authapi.OpenReviews(ctx, r.js, r.opts.Replicas); err != nil {
		return nil, nil, fmt.Errorf("responder: %w", err)
	}
	if r.opts.Kicker != nil {
		if r.kicksKV, err = openKicks(ctx, r.js, KicksBucket(r.store.KV().Bucket()), r.opts.Replicas); err != nil {
			return nil, nil, fmt.Errorf("responder: %w", err)
		}
	}
	if incs, err = r.incidentsConsumer(ctx); err != nil {
		return nil, nil, err
	}
	if revs, err = r.reviewsConsumer(ctx); err != nil {
		return nil, nil, err
	}
	select {
	case <-r.index.Ready():
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	if r.trustW != nil {
		select {
		case <-r.trustW.Ready():
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	return incs, revs, nil
}
