package authapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/allowlist"
	"github.com/vigil-ids/vigil/internal/httpapi"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/totp"
)

// Buckets of the auth store.
const (
	bucketAccounts = "vigil_auth_accounts"
	bucketSessions = "vigil_auth_sessions"
	bucketConfig   = "vigil_auth_config"
	bucketAPIKeys  = "vigil_auth_apikeys"
	keyAllowlist   = "allowlist"
	keyKeyCheck    = "keycheck"
)

// Roles of admin accounts.
const (
	RoleAdmin    = "admin"
	RoleSubAdmin = "sub-admin"
	RoleViewer   = "viewer"
)

// Account is an admin account as stored (secrets encrypted, codes hashed).
type Account struct {
	ID           string     `json:"id"`
	Username     string     `json:"username"`
	Role         string     `json:"role"`
	PasswordHash string     `json:"password_hash"`
	TOTP         *TOTPState `json:"totp,omitempty"`
	Pending      *TOTPState `json:"pending,omitempty"`
	Recovery     []string   `json:"recovery,omitempty"` // argon2id hashes; "" once used
	Failures     int        `json:"failures"`
	LockedUntil  time.Time  `json:"locked_until"`
	Epoch        int        `json:"epoch"` // sessions of older epochs are invalid ("log out everywhere")
	Created      time.Time  `json:"created"`
	Domains      []string   `json:"domains,omitempty"` // the only domains the account sees and acts on; empty: all
}

// TOTPState is an account's (or a pending enrollment's) encrypted secret and its parameters.
type TOTPState struct {
	SecretEnc []byte      `json:"secret_enc"`
	Params    totp.Params `json:"params"`
	LastStep  int64       `json:"last_step"`
	Expires   time.Time   `json:"expires,omitzero"`
}

// session is a server-side session or second-factor ticket; the key is the SHA-256 of the token.
type session struct {
	Account  string    `json:"account"`
	Ticket   bool      `json:"ticket,omitempty"` // password step done; only the second factor is reachable
	Epoch    int       `json:"epoch"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`
}

// APIKey is a scoped, revocable credential for scripts; the key is stored as its SHA-256.
type APIKey struct {
	ID      string    `json:"id"`
	Account string    `json:"account"`
	Name    string    `json:"name"`
	Scopes  []string  `json:"scopes"`
	Created time.Time `json:"created"`
}

type store struct {
	accounts, sessions, config, apikeys jetstream.KeyValue
}

func openStore(ctx context.Context, js jetstream.JetStream, replicas int, sessionTTL time.Duration) (*store, error) {
	if replicas == 0 {
		replicas = 1
	}
	kv := func(name string, ttl time.Duration, history uint8) (jetstream.KeyValue, error) {
		b, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, TTL: ttl, History: history, Replicas: replicas, Storage: jetstream.FileStorage})
		if err != nil {
			return nil, fmt.Errorf("auth bucket %s: %w", name, err)
		}
		return b, nil
	}
	s := &store{}
	var err error
	if s.accounts, err = kv(bucketAccounts, 0, 5); err != nil {
		return nil, err
	}
	if s.sessions, err = kv(bucketSessions, sessionTTL, 1); err != nil {
		return nil, err
	}
	if s.config, err = kv(bucketConfig, 0, 10); err != nil {
		return nil, err
	}
	if s.apikeys, err = kv(bucketAPIKeys, 0, 1); err != nil {
		return nil, err
	}
	return s, nil
}

func accountKey(username string) string { return hex.EncodeToString([]byte(username)) }

func tokenKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

var errConflict = errors.New("concurrent update")

// unavailable turns a store error other than "not found" or an invalid name into a 503 that the adapter logs;
// it returns nil for those two, which are credential failures.
func unavailable(err error) error {
	if err == nil || errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, errBadName) {
		return nil
	}
	return &httpapi.Error{Status: http.StatusServiceUnavailable, Code: "store_unavailable", Message: "the account store is unavailable; try again", Err: err}
}

// errBadName is returned for a name that is not a valid username; it never reaches NATS (a long key would exceed
// NATS's control-line limit and close the shared connection).
var errBadName = errors.New("not a valid username")

func (s *store) account(ctx context.Context, username string) (*Account, uint64, error) {
	if !validUsername(username) {
		return nil, 0, errBadName
	}
	e, err := s.accounts.Get(ctx, accountKey(username))
	if err != nil {
		return nil, 0, err
	}
	var a Account
	if err := json.Unmarshal(e.Value(), &a); err != nil {
		return nil, 0, err
	}
	return &a, e.Revision(), nil
}

// updateAccount applies fn to the account and stores it with compare-and-set, retrying on conflicts; fn may
// return an error to abort.
func (s *store) updateAccount(ctx context.Context, username string, fn func(*Account) error) (*Account, error) {
	for range 20 {
		a, rev, err := s.account(ctx, username)
		if err != nil {
			return nil, err
		}
		if err := fn(a); err != nil {
			return a, err
		}
		data, _ := json.Marshal(a)
		if _, err := s.accounts.Update(ctx, accountKey(username), data, rev); err != nil {
			if natsbus.IsKVConflict(err) {
				continue
			}
			return nil, err
		}
		return a, nil
	}
	return nil, errConflict
}

func (s *store) createAccount(ctx context.Context, a *Account) error {
	if !validUsername(a.Username) {
		return errBadName
	}
	data, _ := json.Marshal(a)
	if _, err := s.accounts.Create(ctx, accountKey(a.Username), data); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("account %q already exists", a.Username)
		}
		return err
	}
	return nil
}

func (s *store) allowlist(ctx context.Context) (*allowlist.List, uint64, error) {
	e, err := s.config.Get(ctx, keyAllowlist)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return &allowlist.List{}, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	var l allowlist.List
	if err := json.Unmarshal(e.Value(), &l); err != nil {
		return nil, 0, err
	}
	return &l, e.Revision(), nil
}

// updateAllowlist applies fn with compare-and-set and returns the list before and after.
func (s *store) updateAllowlist(ctx context.Context, fn func(*allowlist.List) error) (before, after *allowlist.List, err error) {
	for range 20 {
		l, rev, err := s.allowlist(ctx)
		if err != nil {
			return nil, nil, err
		}
		b, _ := json.Marshal(l)
		before = &allowlist.List{}
		json.Unmarshal(b, before)
		if err := fn(l); err != nil {
			return before, l, err
		}
		data, _ := json.Marshal(l)
		if rev == 0 {
			_, err = s.config.Create(ctx, keyAllowlist, data)
		} else {
			_, err = s.config.Update(ctx, keyAllowlist, data, rev)
		}
		if err != nil {
			if natsbus.IsKVConflict(err) {
				continue
			}
			return nil, nil, err
		}
		return before, l, nil
	}
	return nil, nil, errConflict
}
