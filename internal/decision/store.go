package decision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/natsbus"
)

// DefaultBucket is the KV bucket of decisions.
const DefaultBucket = "vigil_decisions"

// Errors of the store.
var (
	ErrNotFound = errors.New("decision not found")
	ErrLifted   = errors.New("decision already lifted")
	ErrConflict = errors.New("decision changed concurrently")
)

// Options configures the bucket.
type Options struct {
	Bucket   string // default vigil_decisions
	Replicas int    // default 1; 3 on a NATS cluster
	// Retain is how long a lifted or expired decision stays listed before Purge deletes it; default 7 days.
	Retain time.Duration
}

// Store reads and writes decisions.
type Store struct {
	kv     jetstream.KeyValue
	retain time.Duration
	now    func() time.Time
}

// Open creates the bucket when missing and returns a Store over it.
func Open(ctx context.Context, js jetstream.JetStream, o Options) (*Store, error) {
	if o.Bucket == "" {
		o.Bucket = DefaultBucket
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.Retain <= 0 {
		o.Retain = 7 * 24 * time.Hour
	}
	kv, err := js.KeyValue(ctx, o.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      o.Bucket,
			Description: "Vigil containment decisions",
			History:     4,
			Replicas:    o.Replicas,
			Storage:     jetstream.FileStorage,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("decisions bucket %s: %w", o.Bucket, err)
	}
	return &Store{kv: kv, retain: o.Retain, now: time.Now}, nil
}

// KV is the bucket, for watchers.
func (s *Store) KV() jetstream.KeyValue { return s.kv }

// Put normalises d and stores it under its id. When a decision with that id exists already (a redelivered incident,
// a repeated request), Put stores nothing and returns the existing one with created false.
func (s *Store) Put(ctx context.Context, d Decision) (_ Decision, created bool, err error) {
	if err := d.Normalise(s.now()); err != nil {
		return d, false, err
	}
	d.Revision = 0
	data, err := json.Marshal(d)
	if err != nil {
		return d, false, err
	}
	rev, err := s.kv.Create(ctx, d.ID, data)
	if errors.Is(err, jetstream.ErrKeyExists) {
		old, gerr := s.Get(ctx, d.ID)
		return old, false, gerr
	}
	if err != nil {
		return d, false, fmt.Errorf("store decision: %w", err)
	}
	d.Revision = rev
	return d, true, nil
}

// Get returns one decision by id.
func (s *Store) Get(ctx context.Context, id string) (Decision, error) {
	if len(id) != 32 || !isHex(id) {
		return Decision{}, fmt.Errorf("%w: %.40q", ErrNotFound, id)
	}
	e, err := s.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Decision{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return Decision{}, fmt.Errorf("read decision %s: %w", id, err)
	}
	return Decode(e)
}

// Decode reads a KV entry's decision; the entry must be a put.
func Decode(e jetstream.KeyValueEntry) (Decision, error) {
	var d Decision
	if err := json.Unmarshal(e.Value(), &d); err != nil {
		return d, fmt.Errorf("decision %s: %w", e.Key(), err)
	}
	if d.ID != e.Key() {
		return d, fmt.Errorf("decision %s: id %.40q differs from its key", e.Key(), d.ID)
	}
	created, expires := d.CreatedAt, d.ExpiresAt
	if err := d.Normalise(created); err != nil {
		return d, fmt.Errorf("decision %s: %w", e.Key(), err)
	}
	if !d.CreatedAt.Equal(created) || !d.ExpiresAt.Equal(expires) {
		return d, fmt.Errorf("decision %s: times are not whole UTC seconds", e.Key())
	}
	d.Revision = e.Revision()
	return d, nil
}

// List returns every stored decision (in force, lifted and expired alike), newest first.
func (s *Store) List(ctx context.Context) ([]Decision, error) {
	lister, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list decisions: %w", err)
	}
	var out []Decision
	for key := range lister.Keys() {
		e, err := s.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read decision %s: %w", key, err)
		}
		if d, err := Decode(e); err == nil {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b Decision) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Lift marks a decision lifted by who, with a reason, compare-and-set on its revision. It returns the lifted
// decision, or ErrNotFound, or ErrLifted (with the decision as it is) when it was lifted already.
func (s *Store) Lift(ctx context.Context, id, by, reason string) (Decision, error) {
	if err := CheckLiftReason(reason); err != nil {
		return Decision{}, err
	}
	if err := checkText("lifted_by", by, MaxByLen); err != nil || by == "" {
		return Decision{}, invalid("lifted_by", "1-%d printable bytes", MaxByLen)
	}
	for attempt := 0; attempt < 5; attempt++ {
		d, err := s.Get(ctx, id)
		if err != nil {
			return d, err
		}
		if d.Lifted() {
			return d, ErrLifted
		}
		seen := d.Revision
		d.LiftedAt, d.LiftedBy, d.LiftReason, d.Revision = s.now().UTC().Truncate(time.Second), by, reason, 0
		data, err := json.Marshal(d)
		if err != nil {
			return d, err
		}
		rev, err := s.kv.Update(ctx, id, data, seen)
		if natsbus.IsKVConflict(err) {
			continue
		}
		if err != nil {
			return d, fmt.Errorf("lift decision %s: %w", id, err)
		}
		d.Revision = rev
		return d, nil
	}
	return Decision{}, ErrConflict
}

// Purge deletes the records lifted or expired more than Options.Retain ago and returns how many it deleted.
func (s *Store) Purge(ctx context.Context) (int, error) {
	all, err := s.List(ctx)
	if err != nil {
		return 0, err
	}
	cutoff := s.now().Add(-s.retain)
	n := 0
	for _, d := range all {
		end := d.ExpiresAt
		if d.Lifted() && d.LiftedAt.Before(end) {
			end = d.LiftedAt
		}
		if end.After(cutoff) {
			continue
		}
		if err := s.kv.Delete(ctx, d.ID, jetstream.LastRevision(d.Revision)); err != nil && !natsbus.IsKVConflict(err) {
			return n, fmt.Errorf("purge decision %s: %w", d.ID, err)
		}
		n++
	}
	return n, nil
}
