package secretbox

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealOpenBoundToOwner(t *testing.T) {
	key, _ := ParseKey(strings.Repeat("ab", 32))
	b, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("totp secret bytes!!!")
	ct := b.Seal(secret, "account-1")
	if bytes.Contains(ct, secret) {
		t.Fatal("ciphertext contains the plaintext")
	}
	if pt, err := b.Open(ct, "account-1"); err != nil || !bytes.Equal(pt, secret) {
		t.Errorf("Open = %q, %v", pt, err)
	}
	if _, err := b.Open(ct, "account-2"); !errors.Is(err, ErrDecrypt) {
		t.Errorf("ciphertext copied to another account opened: %v", err)
	}
	other, _ := New(bytes.Repeat([]byte{1}, 32))
	if _, err := other.Open(ct, "account-1"); !errors.Is(err, ErrDecrypt) {
		t.Errorf("wrong key opened the ciphertext: %v", err)
	}
	if b.KeyID() == other.KeyID() {
		t.Error("different keys share a key id")
	}
	for _, bad := range [][]byte{nil, ct[:5], append(append([]byte{}, ct...), 0)} {
		if _, err := b.Open(bad, "account-1"); !errors.Is(err, ErrDecrypt) {
			t.Errorf("Open(%d bytes) = %v", len(bad), err)
		}
	}
}

func TestKeys(t *testing.T) {
	for _, bad := range []string{"", "abc", strings.Repeat("ab", 16), strings.Repeat("zz", 32)} {
		if _, err := ParseKey(bad); !errors.Is(err, ErrKey) {
			t.Errorf("ParseKey(%q) = %v; want ErrKey", bad, err)
		}
	}
	path := filepath.Join(t.TempDir(), "key")
	os.WriteFile(path, []byte(strings.Repeat("cd", 32)+"\n"), 0o600)
	if k, err := LoadKey("", path); err != nil || len(k) != 32 {
		t.Errorf("LoadKey(file) = %v", err)
	}
	if _, err := LoadKey("", ""); !errors.Is(err, ErrKey) {
		t.Errorf("LoadKey(nothing) = %v; want ErrKey (a missing key is a start-up error)", err)
	}
}
