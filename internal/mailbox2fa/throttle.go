package mailbox2fa

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/natsbus"
)

// bucketTries holds the verification attempts per mailbox address and minute, shared by every auth API replica.
const bucketTries = "vigil_mailbox_2fa_tries"

// limiter counts verification attempts per mailbox address in fixed one-minute windows in a NATS KV bucket, so
// that N auth API replicas do not give an attacker N times the attempts. Counters are raised with compare-and-set
// (Create for the first attempt of a window, Update at the read revision after that); the bucket's TTL collects
// old windows. Any store error refuses the attempt (fail closed).
type limiter struct {
	kv    jetstream.KeyValue
	limit int
	now   func() time.Time
}

func openLimiter(ctx context.Context, js jetstream.JetStream, replicas, limit int, now func() time.Time) (*limiter, error) {
	if replicas == 0 {
		replicas = 1
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucketTries, TTL: 3 * time.Minute, History: 1,
		Replicas: replicas, Storage: jetstream.FileStorage})
	if err != nil {
		return nil, fmt.Errorf("mailbox 2fa bucket %s: %w", bucketTries, err)
	}
	return &limiter{kv: kv, limit: limit, now: now}, nil
}

var errThrottleStore = errors.New("mailbox 2fa throttle: too many concurrent updates")

// throttleTimeout bounds one count: a store slower than that refuses the attempt rather than holding the webmail.
const throttleTimeout = 2 * time.Second

// allow counts an attempt for user and reports whether it is within the limit, and otherwise when to retry. An
// error means the count could not be kept: the caller refuses the attempt.
func (l *limiter) allow(ctx context.Context, user string) (bool, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, throttleTimeout)
	defer cancel()
	now := l.now()
	window := now.Truncate(time.Minute)
	retry := max(window.Add(time.Minute).Sub(now), time.Second)
	key := userKey(user) + "." + strconv.FormatInt(window.Unix()/60, 10)
	for range 64 {
		e, err := l.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			_, err = l.kv.Create(ctx, key, []byte("1"))
		case err != nil:
			return false, 0, fmt.Errorf("mailbox 2fa throttle: %w", err)
		default:
			n, perr := strconv.Atoi(string(e.Value()))
			if perr != nil || n < 0 {
				return false, 0, fmt.Errorf("mailbox 2fa throttle: counter %q: not a count", e.Value())
			}
			if n >= l.limit {
				return false, retry, nil // no write: a refused attempt cannot lift the count further anyway
			}
			_, err = l.kv.Update(ctx, key, []byte(strconv.Itoa(n+1)), e.Revision())
		}
		if err == nil {
			return true, 0, nil
		}
		if !natsbus.IsKVConflict(err) {
			return false, 0, fmt.Errorf("mailbox 2fa throttle: %w", err)
		}
	}
	return false, 0, errThrottleStore
}
