package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSignMatchesSpecification(t *testing.T) {
	secret, body := []byte("s3cret-s3cret-s3cret"), []byte(`{"id":"x"}`)
	at := time.Unix(1764666000, 0)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("1764666000." + string(body)))
	want := "t=1764666000,v1=" + hex.EncodeToString(m.Sum(nil))
	if got := Sign(secret, at, body); got != want {
		t.Fatalf("Sign = %q; want %q", got, want)
	}
}

func TestVerify(t *testing.T) {
	secret, body := []byte("s3cret-s3cret-s3cret"), []byte(`{"id":"x"}`)
	at := time.Unix(1764666000, 0)
	good := Sign(secret, at, body)
	other := Sign([]byte("another secret......"), at, body)
	for _, tc := range []struct {
		name, header string
		body         []byte
		now          time.Time
		want         error
	}{
		{"valid", good, body, at.Add(time.Minute), nil},
		{"valid, clock behind", good, body, at.Add(-time.Minute), nil},
		{"rotation: second v1 matches", other + "," + strings.TrimPrefix(good, "t=1764666000,"), body, at, nil},
		{"unknown scheme ignored", good + ",v0=abc", body, at, nil},
		{"replayed later", good, body, at.Add(DefaultTolerance + time.Second), ErrSignatureStale},
		{"from the future", good, body, at.Add(-DefaultTolerance - time.Second), ErrSignatureStale},
		{"body changed", good, []byte(`{"id":"y"}`), at, ErrSignatureWrong},
		{"wrong secret", other, body, at, ErrSignatureWrong},
		{"timestamp changed", strings.Replace(good, "t=1764666000", "t=1764666001", 1), body, at, ErrSignatureWrong},
		{"no timestamp", strings.TrimPrefix(good, "t=1764666000,"), body, at, ErrSignatureFormat},
		{"no signature", "t=1764666000", body, at, ErrSignatureFormat},
		{"short signature", "t=1764666000,v1=abcd", body, at, ErrSignatureFormat},
		{"signed timestamp", "t=+1764666000," + strings.TrimPrefix(good, "t=1764666000,"), body, at, ErrSignatureFormat},
		{"two timestamps", good + ",t=1764666000", body, at, ErrSignatureFormat},
		{"garbage", "hello", body, at, ErrSignatureFormat},
		{"empty", "", body, at, ErrSignatureFormat},
		{"too long", good + strings.Repeat(",x=y", 300), body, at, ErrSignatureFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(secret, tc.header, tc.body, tc.now, DefaultTolerance)
			if (tc.want == nil && err != nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("Verify(%q) = %v; want %v", tc.header, err, tc.want)
			}
		})
	}
}

// FuzzVerify: any header and body give an answer, never a panic, and only a header Sign made verifies.
func FuzzVerify(f *testing.F) {
	secret := []byte("fuzz-secret-fuzz-secret")
	at := time.Unix(1764666000, 0)
	f.Add(Sign(secret, at, []byte("{}")), []byte("{}"))
	f.Add("t=1764666000,v1=00", []byte("x"))
	f.Add("t=,v1=", []byte(""))
	f.Add("t=99999999999999999999,v1=zz", []byte("x"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := Verify(secret, header, body, at, DefaultTolerance)
		if err == nil && !strings.Contains(header, Sign(secret, at, body)[len("t=1764666000,"):]) {
			t.Fatalf("Verify(%q, %q) accepted a header without the right signature", header, body)
		}
	})
}

// BenchmarkSignVerify measures signing a typical delivery (about 1 KB) and verifying it.
func BenchmarkSignVerify(b *testing.B) {
	secret, body := []byte("bench-secret-bench-secret"), []byte(strings.Repeat("x", 1024))
	at := time.Unix(1764666000, 0)
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify(secret, Sign(secret, at, body), body, at, DefaultTolerance); err != nil {
			b.Fatal(err)
		}
	}
}
