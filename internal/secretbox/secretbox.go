// Package secretbox encrypts secrets at rest with AES-256-GCM, bound to their owner by associated data.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Errors of the package.
var (
	ErrKey     = errors.New("bad encryption key")
	ErrDecrypt = errors.New("cannot decrypt: wrong key, or the ciphertext belongs to another owner")
)

// Box seals and opens secrets with one key.
type Box struct {
	aead cipher.AEAD
	id   string
}

// ParseKey reads a 32-byte key given as 64 hex digits or standard base64.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	return nil, fmt.Errorf("%w: want 32 bytes as 64 hex digits or base64 (openssl rand -hex 32)", ErrKey)
}

// LoadKey reads the key from the value of an environment variable or, when that is empty, from a file.
func LoadKey(value, file string) ([]byte, error) {
	if value == "" && file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKey, err)
		}
		value = string(b)
	}
	if value == "" {
		return nil, fmt.Errorf("%w: none configured (VIGIL_AUTH_KEY or VIGIL_AUTH_KEY_FILE)", ErrKey)
	}
	return ParseKey(value)
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("%w: %d bytes, want 32", ErrKey, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte("vigil key id\x00"), key...))
	return &Box{aead: aead, id: hex.EncodeToString(sum[:4])}, nil
}

// KeyID identifies the key without revealing it (stored beside ciphertexts to detect a wrong key at start-up).
func (b *Box) KeyID() string { return b.id }

// Seal encrypts plaintext for owner: the owner is authenticated, so the ciphertext opens only for the same owner.
func (b *Box) Seal(plaintext []byte, owner string) []byte {
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	rand.Read(nonce)
	return b.aead.Seal(nonce, nonce, plaintext, []byte(owner))
}

// Open decrypts a ciphertext sealed for owner.
func (b *Box) Open(ciphertext []byte, owner string) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(ciphertext) < n+b.aead.Overhead() {
		return nil, ErrDecrypt
	}
	pt, err := b.aead.Open(nil, ciphertext[:n], ciphertext[n:], []byte(owner))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}
