package mailbox2fa

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/totp"
)

// Buckets of the mailbox 2FA store.
const (
	bucketUsers = "vigil_mailbox_2fa_users"
	bucketLinks = "vigil_mailbox_2fa_links"
)

// State is a mailbox user's second factor as stored (secrets encrypted, backup codes hashed).
type State struct {
	User        string    `json:"user"`
	TOTP        *Secret   `json:"totp,omitempty"`
	Pending     *Secret   `json:"pending,omitempty"`
	Backup      []string  `json:"backup,omitempty"` // argon2id hashes; "" once used
	Recovery    string    `json:"recovery,omitempty"`
	Email       bool      `json:"email,omitempty"`        // e-mailed codes enabled (needs Recovery)
	EmailSecret []byte    `json:"email_secret,omitempty"` // encrypted HOTP key of e-mailed codes
	Counter     int64     `json:"counter,omitempty"`      // HOTP counter of the outstanding e-mailed code
	CodeExpires time.Time `json:"code_expires,omitzero"`  // zero: no outstanding e-mailed code
	CodeSent    time.Time `json:"code_sent,omitzero"`
	Failures    int       `json:"failures,omitempty"`
	LockedUntil time.Time `json:"locked_until,omitzero"`
	Enrolled    time.Time `json:"enrolled,omitzero"`
}

// Secret is an encrypted TOTP secret and its parameters.
type Secret struct {
	SecretEnc []byte      `json:"secret_enc"`
	Params    totp.Params `json:"params"`
	LastStep  int64       `json:"last_step"`
	Expires   time.Time   `json:"expires,omitzero"`
}

func (st *State) enrolled() bool { return st.TOTP != nil || st.Email }

// link is an e-mailed enrollment link ("link") or the QR page opened from it ("page"), keyed by its token's hash.
type link struct {
	Kind    string    `json:"kind"`
	User    string    `json:"user"`
	Expires time.Time `json:"expires"`
}

type store struct{ users, links jetstream.KeyValue }

func openStore(ctx context.Context, js jetstream.JetStream, replicas int, linkTTL time.Duration) (*store, error) {
	if replicas == 0 {
		replicas = 1
	}
	kv := func(name string, ttl time.Duration, history uint8) (jetstream.KeyValue, error) {
		b, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, TTL: ttl, History: history, Replicas: replicas, Storage: jetstream.FileStorage})
		if err != nil {
			return nil, fmt.Errorf("mailbox 2fa bucket %s: %w", name, err)
		}
		return b, nil
	}
	users, err := kv(bucketUsers, 0, 5)
	if err != nil {
		return nil, err
	}
	links, err := kv(bucketLinks, linkTTL+time.Hour, 1) // records carry their own expiry; the TTL collects them
	if err != nil {
		return nil, err
	}
	return &store{users: users, links: links}, nil
}

func userKey(user string) string { return hex.EncodeToString([]byte(user)) }

func tokenKey(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

func (s *store) state(ctx context.Context, user string) (*State, uint64, error) {
	e, err := s.users.Get(ctx, userKey(user))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return &State{User: user}, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	var st State
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return nil, 0, err
	}
	return &st, e.Revision(), nil
}

var errConflict = errors.New("concurrent update")

// update applies fn to the user's state and stores it with compare-and-set, retrying on conflicts; fn may return
// an error to abort (the state is then not written). Concurrent uses of one code therefore succeed at most once.
func (s *store) update(ctx context.Context, user string, fn func(*State) error) (*State, error) {
	for range 20 {
		st, rev, err := s.state(ctx, user)
		if err != nil {
			return nil, err
		}
		if err := fn(st); err != nil {
			return st, err
		}
		data, _ := json.Marshal(st)
		if rev == 0 {
			_, err = s.users.Create(ctx, userKey(user), data)
		} else {
			_, err = s.users.Update(ctx, userKey(user), data, rev)
		}
		if err != nil {
			if natsbus.IsKVConflict(err) {
				continue
			}
			return nil, err
		}
		return st, nil
	}
	return nil, errConflict
}

func (s *store) putLink(ctx context.Context, tok string, l link) error {
	data, _ := json.Marshal(l)
	_, err := s.links.Create(ctx, tokenKey(tok), data)
	return err
}

func (s *store) getLink(ctx context.Context, tok string) (*link, uint64, error) {
	e, err := s.links.Get(ctx, tokenKey(tok))
	if err != nil {
		return nil, 0, err
	}
	var l link
	if err := json.Unmarshal(e.Value(), &l); err != nil {
		return nil, 0, err
	}
	return &l, e.Revision(), nil
}

// takeLink deletes the link if it is still the revision read: of two concurrent uses one wins.
func (s *store) takeLink(ctx context.Context, tok string) (*link, error) {
	l, rev, err := s.getLink(ctx, tok)
	if err != nil {
		return nil, err
	}
	if err := s.links.Delete(ctx, tokenKey(tok), jetstream.LastRevision(rev)); err != nil {
		return nil, err
	}
	return l, nil
}
