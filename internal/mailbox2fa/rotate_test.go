package mailbox2fa

import (
	"bytes"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/secretbox"
	"github.com/vigil-ids/vigil/internal/testenv"
	"github.com/vigil-ids/vigil/internal/totp"
)

func TestRotateKey(t *testing.T) {
	ctx := t.Context()
	js, err := natsbus.NewJetStream(testenv.Connect(t, testenv.NATS(t)))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := RotateKey(ctx, js, testKey, bytes.Repeat([]byte{3}, 32)); n != 0 || err != nil {
		t.Fatalf("RotateKey without the bucket = %d, %v; want 0, nil", n, err)
	}
	st, err := openStore(ctx, js, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	oldBox, _ := secretbox.New(testKey)
	secret, email := totp.NewSecret(), totp.NewSecret()
	const user = "alice@example.org"
	if _, err := st.update(ctx, user, func(s *State) error {
		s.TOTP = &Secret{SecretEnc: oldBox.Seal(secret, user), Params: totp.Default}
		s.EmailSecret = oldBox.Seal(email, user)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	newKey := bytes.Repeat([]byte{4}, 32)
	if _, err := RotateKey(ctx, js, bytes.Repeat([]byte{5}, 32), newKey); err == nil {
		t.Error("RotateKey with a wrong old key succeeded")
	}
	if n, err := RotateKey(ctx, js, testKey, newKey); n != 1 || err != nil {
		t.Fatalf("RotateKey = %d, %v; want 1, nil", n, err)
	}
	newBox, _ := secretbox.New(newKey)
	s, _, _ := st.state(ctx, user)
	got, err := newBox.Open(s.TOTP.SecretEnc, user)
	gotEmail, err2 := newBox.Open(s.EmailSecret, user)
	if err != nil || err2 != nil || !bytes.Equal(got, secret) || !bytes.Equal(gotEmail, email) {
		t.Errorf("secrets after rotation do not open with the new key: %v %v", err, err2)
	}
}
