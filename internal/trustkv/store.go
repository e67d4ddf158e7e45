// Package trustkv stores trusted networks in a NATS KV bucket and watches them live.
//
// Record format: bucket vigil_trusted (configurable), one key per range. The key is the range's id, 16 lower-case
// hex digits; the value is JSON:
//
//	{"id":"3f2a9c0d1e4b5a68","scope":"domain","subject":"example.org","prefix":"203.0.113.0/24",
//	 "description":"Paris office","created_at":"2026-11-24T09:30:00Z","created_by":"root@admin1"}
//
// scope is global, domain or user; subject is the lower-case domain or user (absent for global); prefix is the
// canonical CIDR (IPv4 /17–/32, IPv6 /32–/128). Any client that writes this shape into the bucket is picked up by
// every detector within a second; malformed values are logged and ignored.
package trustkv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/netset"
)

// DefaultBucket is the KV bucket of trusted networks.
const DefaultBucket = "vigil_trusted"

// Errors of the store.
var (
	ErrNotFound  = errors.New("trusted network not found")
	ErrDuplicate = errors.New("trusted network already exists")
)

// Options configures the bucket.
type Options struct {
	Bucket   string // default vigil_trusted
	Replicas int    // default 1
}

// Store reads and writes trusted networks.
type Store struct {
	kv  jetstream.KeyValue
	now func() time.Time
}

// Open creates the bucket when missing and returns a Store over it.
func Open(ctx context.Context, js jetstream.JetStream, o Options) (*Store, error) {
	if o.Bucket == "" {
		o.Bucket = DefaultBucket
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	kv, err := js.KeyValue(ctx, o.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      o.Bucket,
			Description: "Vigil trusted networks",
			History:     5,
			Replicas:    o.Replicas,
			Storage:     jetstream.FileStorage,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("trusted networks bucket %s: %w", o.Bucket, err)
	}
	return &Store{kv: kv, now: time.Now}, nil
}

// Add validates, canonicalises and stores an entry under a new id, refusing an exact duplicate.
func (s *Store) Add(ctx context.Context, e netset.Entry) (netset.Entry, error) {
	if err := e.Normalise(); err != nil {
		return e, err
	}
	existing, err := s.List(ctx)
	if err != nil {
		return e, err
	}
	for _, x := range existing {
		if x.Scope == e.Scope && x.Subject == e.Subject && x.Prefix == e.Prefix {
			return x, fmt.Errorf("%w: %s (id %s)", ErrDuplicate, x.Prefix, x.ID)
		}
	}
	var id [8]byte
	rand.Read(id[:])
	e.ID = hex.EncodeToString(id[:])
	if e.CreatedAt.IsZero() {
		e.CreatedAt = s.now().UTC().Truncate(time.Second)
	}
	data, err := json.Marshal(e)
	if err != nil {
		return e, err
	}
	if _, err := s.kv.Create(ctx, e.ID, data); err != nil {
		return e, fmt.Errorf("store trusted network: %w", err)
	}
	return e, nil
}

// List returns every valid entry, ordered by scope, subject and prefix.
func (s *Store) List(ctx context.Context) ([]netset.Entry, error) {
	lister, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list trusted networks: %w", err)
	}
	var out []netset.Entry
	for key := range lister.Keys() {
		ent, err := s.kv.Get(ctx, key)
		if err != nil {
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				continue
			}
			return nil, fmt.Errorf("read trusted network %s: %w", key, err)
		}
		if e, err := decode(key, ent.Value()); err == nil {
			out = append(out, e)
		}
	}
	sortEntries(out)
	return out, nil
}

// Remove deletes an entry by id.
func (s *Store) Remove(ctx context.Context, id string) error {
	if _, err := s.kv.Get(ctx, id); err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
			return fmt.Errorf("%w: %q", ErrNotFound, id)
		}
		return err
	}
	if err := s.kv.Delete(ctx, id); err != nil {
		return fmt.Errorf("remove trusted network %s: %w", id, err)
	}
	return nil
}

func decode(key string, value []byte) (netset.Entry, error) {
	var e netset.Entry
	if err := json.Unmarshal(value, &e); err != nil {
		return e, fmt.Errorf("trusted network %s: %w", key, err)
	}
	if e.ID == "" {
		e.ID = key
	}
	if err := e.Normalise(); err != nil {
		return e, fmt.Errorf("trusted network %s: %w", key, err)
	}
	return e, nil
}

func sortEntries(es []netset.Entry) {
	slices.SortFunc(es, func(a, b netset.Entry) int {
		if a.Scope != b.Scope {
			return cmpStr(string(a.Scope), string(b.Scope))
		}
		if a.Subject != b.Subject {
			return cmpStr(a.Subject, b.Subject)
		}
		return a.Prefix.Addr().Compare(b.Prefix.Addr())
	})
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
