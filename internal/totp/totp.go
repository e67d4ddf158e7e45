// Package totp verifies RFC 6238 time-based one-time codes with explicit step matching and replay protection.
package totp

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"image/png"
	"net/url"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// Algorithm names the HMAC of a key.
type Algorithm string

// The algorithms of RFC 6238; authenticator apps reliably support only SHA1.
const (
	SHA1   Algorithm = "SHA1"
	SHA256 Algorithm = "SHA256"
	SHA512 Algorithm = "SHA512"
)

// Params are a key's algorithm, digits and period, stored with its secret.
type Params struct {
	Algorithm Algorithm
	Digits    int
	Period    time.Duration
}

// Default is what Google Authenticator, Authy and Microsoft Authenticator all support.
var Default = Params{Algorithm: SHA1, Digits: 6, Period: 30 * time.Second}

// Skew is how many steps before and after the current one are accepted.
const Skew = 1

// MinSecret is the shortest secret accepted: RFC 4226 requires 128 bits, 160 recommended.
const MinSecret = 20

// Errors of Verify. ErrInvalid covers every wrong code, so callers give one answer for all failures.
var (
	ErrInvalid   = errors.New("invalid code")
	ErrBadParams = errors.New("bad TOTP parameters")
)

// Validate reports unusable parameters.
func (p Params) Validate() error {
	if p.Algorithm != SHA1 && p.Algorithm != SHA256 && p.Algorithm != SHA512 {
		return fmt.Errorf("%w: algorithm %q", ErrBadParams, p.Algorithm)
	}
	if p.Digits != 6 && p.Digits != 8 {
		return fmt.Errorf("%w: %d digits (want 6 or 8)", ErrBadParams, p.Digits)
	}
	if p.Period < 15*time.Second || p.Period > 5*time.Minute || p.Period%time.Second != 0 {
		return fmt.Errorf("%w: period %s", ErrBadParams, p.Period)
	}
	return nil
}

func (p Params) opts() hotp.ValidateOpts {
	a := otp.AlgorithmSHA1
	switch p.Algorithm {
	case SHA256:
		a = otp.AlgorithmSHA256
	case SHA512:
		a = otp.AlgorithmSHA512
	}
	d := otp.DigitsSix
	if p.Digits == 8 {
		d = otp.DigitsEight
	}
	return hotp.ValidateOpts{Digits: d, Algorithm: a}
}

// Step returns the time step of t.
func (p Params) Step(t time.Time) int64 { return t.Unix() / int64(p.Period/time.Second) }

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Code returns the code of a step (for tests and tools; servers only verify).
func Code(secret []byte, p Params, step int64) (string, error) {
	if len(secret) < MinSecret {
		return "", fmt.Errorf("%w: secret shorter than %d bytes", ErrBadParams, MinSecret)
	}
	if err := p.Validate(); err != nil {
		return "", err
	}
	return hotp.GenerateCodeCustom(b32.EncodeToString(secret), uint64(step), p.opts())
}

// Verify checks code against the steps around t and returns the step it matched. Only steps after lastStep are
// accepted, so a code (or an older one) never works twice: the caller stores the returned step atomically with
// the account. The code must be exactly p.Digits ASCII digits; everything else is ErrInvalid.
func Verify(secret []byte, p Params, code string, t time.Time, lastStep int64) (int64, error) {
	if err := p.Validate(); err != nil {
		return 0, err
	}
	if len(secret) < MinSecret {
		return 0, fmt.Errorf("%w: secret shorter than %d bytes", ErrBadParams, MinSecret)
	}
	if !wellFormed(code, p.Digits) {
		return 0, ErrInvalid
	}
	now := p.Step(t)
	matched := int64(-1)
	for s := now - Skew; s <= now+Skew; s++ { // compare every candidate: no early exit
		want, err := Code(secret, p, s)
		if err != nil {
			return 0, err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && s > lastStep && matched < 0 {
			matched = s
		}
	}
	if matched < 0 {
		return 0, ErrInvalid
	}
	return matched, nil
}

func wellFormed(code string, digits int) bool {
	if len(code) != digits {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// NewSecret returns a random 20-byte secret from crypto/rand.
func NewSecret() []byte {
	b := make([]byte, 20)
	rand.Read(b)
	return b
}

// URI returns the otpauth:// URI authenticator apps scan. The issuer must not contain ':'.
func URI(issuer, account string, secret []byte, p Params) (string, error) {
	if issuer == "" || strings.ContainsAny(issuer, ":") || account == "" || strings.ContainsAny(account, ":") {
		return "", fmt.Errorf("%w: issuer and account must be non-empty and without ':'", ErrBadParams)
	}
	v := url.Values{}
	v.Set("secret", b32.EncodeToString(secret))
	v.Set("issuer", issuer)
	v.Set("algorithm", string(p.Algorithm))
	v.Set("digits", fmt.Sprint(p.Digits))
	v.Set("period", fmt.Sprint(int(p.Period/time.Second)))
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + account, RawQuery: v.Encode()}
	return u.String(), nil
}

// SecretText is the secret as people type it into an app: base32 in groups of four.
func SecretText(secret []byte) string {
	s := b32.EncodeToString(secret)
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// QRPNG renders the URI as a QR code PNG of size×size pixels.
func QRPNG(uri string, size int) ([]byte, error) {
	key, err := otp.NewKeyFromURL(uri)
	if err != nil {
		return nil, err
	}
	img, err := key.Image(size, size)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
