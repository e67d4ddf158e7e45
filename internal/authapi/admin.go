package authapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/term"

	"github.com/vigil-ids/vigil/internal/secretbox"
)

// ReadPassword reads a new password from the terminal (asked twice, not echoed) or, when stdin is not a terminal,
// from its first line. Passwords never come from the command line.
func ReadPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "Repeat password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// RotateKey re-encrypts every stored TOTP secret from oldKey to newKey and records the new key, so the service
// starts with newKey afterwards. Each account is updated with compare-and-set.
func RotateKey(ctx context.Context, js jetstream.JetStream, oldKey, newKey []byte) (int, error) {
	oldBox, err := secretbox.New(oldKey)
	if err != nil {
		return 0, err
	}
	newBox, err := secretbox.New(newKey)
	if err != nil {
		return 0, err
	}
	st, err := openStore(ctx, js, 0, 24*time.Hour)
	if err != nil {
		return 0, err
	}
	if e, err := st.config.Get(ctx, keyKeyCheck); err != nil || string(e.Value()) != oldBox.KeyID() {
		return 0, fmt.Errorf("the old key is not the key in use: %w", ErrKeyMismatch)
	}
	lister, err := st.accounts.ListKeys(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for key := range lister.Keys() {
		e, err := st.accounts.Get(ctx, key)
		if err != nil {
			return n, err
		}
		var a Account
		if err := jsonUnmarshal(e.Value(), &a); err != nil {
			return n, err
		}
		_, err = st.updateAccount(ctx, a.Username, func(a *Account) error {
			for _, s := range []*TOTPState{a.TOTP, a.Pending} {
				if s == nil {
					continue
				}
				pt, err := oldBox.Open(s.SecretEnc, a.Username)
				if err != nil {
					return fmt.Errorf("account %s: %w", a.Username, err)
				}
				s.SecretEnc = newBox.Seal(pt, a.Username)
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n++
	}
	if _, err := st.config.Put(ctx, keyKeyCheck, []byte(newBox.KeyID())); err != nil {
		return n, err
	}
	return n, nil
}
