// Package password hashes passwords with argon2id and verifies them in constant time.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// Default meets OWASP's minimum for argon2id: 19 MiB, 2 iterations, 1 thread.
var Default = Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

// Limits on passwords.
const (
	MinLength = 12
	MaxLength = 1024
)

// ErrMismatch is returned for a wrong password or an unreadable hash.
var ErrMismatch = errors.New("password does not match")

// Check reports why a new password is not acceptable.
func Check(pw string) error {
	switch {
	case len(pw) < MinLength:
		return fmt.Errorf("password shorter than %d characters", MinLength)
	case len(pw) > MaxLength:
		return fmt.Errorf("password longer than %d bytes", MaxLength)
	}
	return nil
}

// Hash returns the PHC string of pw: $argon2id$v=19$m=...,t=...,p=...$salt$hash.
func Hash(pw string, p Params) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	sum := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, 32)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads, enc.EncodeToString(salt), enc.EncodeToString(sum))
}

// Verify checks pw against a PHC string from Hash.
func Verify(pw, encoded string) error {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || len(pw) > MaxLength {
		return ErrMismatch
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil || p.MemoryKiB > 1<<22 || p.Time > 100 {
		return ErrMismatch
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return ErrMismatch
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrMismatch
	}
	return nil
}
