package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Headers of a webhook delivery.
const (
	SignatureHeader = "Vigil-Signature" // t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
	DeliveryHeader  = "Vigil-Delivery"  // the event id, stable across retries
	EventHeader     = "Vigil-Event"     // the event type
)

// DefaultTolerance is how far a signature's timestamp may be from the receiver's clock in Verify's callers'
// examples: a captured delivery replayed later than this is refused.
const DefaultTolerance = 5 * time.Minute

// Errors of Verify.
var (
	ErrSignatureFormat = errors.New("malformed Vigil-Signature header")
	ErrSignatureStale  = errors.New("signature timestamp outside the tolerance window")
	ErrSignatureWrong  = errors.New("signature does not match")
)

// Sign returns the Vigil-Signature header value of body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// maxSignatureHeader bounds the header Verify parses.
const maxSignatureHeader = 1024

// Verify checks a delivery the way a receiver should: header is the Vigil-Signature value, body the raw request
// body (before any JSON parsing), now the receiver's clock. The timestamp must lie within tolerance of now, and one
// of the v1 signatures (several appear while a secret is rotated) must equal the HMAC-SHA256 of "<t>.<body>" under
// secret, compared in constant time. A receiver should then drop a Vigil-Delivery id it has already accepted.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if len(header) > maxSignatureHeader {
		return fmt.Errorf("%w: longer than %d bytes", ErrSignatureFormat, maxSignatureHeader)
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: %q is not key=value", ErrSignatureFormat, part)
		}
		switch k {
		case "t":
			if ts != "" {
				return fmt.Errorf("%w: two timestamps", ErrSignatureFormat)
			}
			ts = v
		case "v1":
			s, err := hex.DecodeString(v)
			if err != nil || len(s) != sha256.Size {
				return fmt.Errorf("%w: v1 is not 64 hex digits", ErrSignatureFormat)
			}
			sigs = append(sigs, s)
		} // other schemes are ignored, so new ones can be added beside v1
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || ts == "" || ts[0] == '+' || ts[0] == '-' {
		return fmt.Errorf("%w: t is not unix seconds", ErrSignatureFormat)
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no v1 signature", ErrSignatureFormat)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s away", ErrSignatureStale, d.Round(time.Second))
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return ErrSignatureWrong
}
