package mailbox2fa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/secretbox"
)

// RotateKey re-encrypts every mailbox user's secrets (TOTP, pending TOTP, e-mailed-code key) from oldKey to newKey
// with compare-and-set and returns how many users it touched. Run it before authapi.RotateKey records the new key;
// a wrong oldKey fails on the first user without changing anything.
func RotateKey(ctx context.Context, js jetstream.JetStream, oldKey, newKey []byte) (int, error) {
	oldBox, err := secretbox.New(oldKey)
	if err != nil {
		return 0, err
	}
	newBox, err := secretbox.New(newKey)
	if err != nil {
		return 0, err
	}
	kv, err := js.KeyValue(ctx, bucketUsers)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return 0, nil // mailbox 2FA never ran
	}
	if err != nil {
		return 0, err
	}
	st := &store{users: kv}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for key := range lister.Keys() {
		e, err := kv.Get(ctx, key)
		if err != nil {
			return n, err
		}
		var cur State
		if err := json.Unmarshal(e.Value(), &cur); err != nil {
			return n, err
		}
		_, err = st.update(ctx, cur.User, func(s *State) error {
			reseal := func(ct []byte) ([]byte, error) {
				pt, err := oldBox.Open(ct, s.User)
				if err != nil {
					return nil, fmt.Errorf("mailbox user %s: %w", s.User, err)
				}
				return newBox.Seal(pt, s.User), nil
			}
			for _, sec := range []*Secret{s.TOTP, s.Pending} {
				if sec != nil {
					if sec.SecretEnc, err = reseal(sec.SecretEnc); err != nil {
						return err
					}
				}
			}
			if s.EmailSecret != nil {
				if s.EmailSecret, err = reseal(s.EmailSecret); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
