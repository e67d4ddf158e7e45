package totp

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestRFC6238Vectors checks Appendix B of RFC 6238 (8 digits, 30 s).
func TestRFC6238Vectors(t *testing.T) {
	seeds := map[Algorithm][]byte{
		SHA1:   []byte("12345678901234567890"),
		SHA256: []byte("12345678901234567890123456789012"),
		SHA512: []byte("1234567890123456789012345678901234567890123456789012345678901234"),
	}
	vectors := []struct {
		t    int64
		want map[Algorithm]string
	}{
		{59, map[Algorithm]string{SHA1: "94287082", SHA256: "46119246", SHA512: "90693936"}},
		{1111111109, map[Algorithm]string{SHA1: "07081804", SHA256: "68084774", SHA512: "25091201"}},
		{1111111111, map[Algorithm]string{SHA1: "14050471", SHA256: "67062674", SHA512: "99943326"}},
		{1234567890, map[Algorithm]string{SHA1: "89005924", SHA256: "91819424", SHA512: "93441116"}},
		{2000000000, map[Algorithm]string{SHA1: "69279037", SHA256: "90698825", SHA512: "38618901"}},
		{20000000000, map[Algorithm]string{SHA1: "65353130", SHA256: "77737706", SHA512: "47863826"}},
	}
	for _, v := range vectors {
		for alg, want := range v.want {
			p := Params{Algorithm: alg, Digits: 8, Period: 30 * time.Second}
			tm := time.Unix(v.t, 0)
			got, err := Code(seeds[alg], p, p.Step(tm))
			if err != nil || got != want {
				t.Errorf("Code(%s, t=%d) = %s, %v; want %s", alg, v.t, got, err, want)
			}
			if step, err := Verify(seeds[alg], p, want, tm, -1); err != nil || step != p.Step(tm) {
				t.Errorf("Verify(%s, t=%d) = %d, %v", alg, v.t, step, err)
			}
		}
	}
}

// TestRFC4226Vectors checks HOTP (the counter form under TOTP), Appendix D.
func TestRFC4226Vectors(t *testing.T) {
	secret := []byte("12345678901234567890")
	for i, want := range []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if got, _ := Code(secret, Default, int64(i)); got != want {
				t.Errorf("counter %d = %s; want %s", i, got, want)
			}
		})
	}
}

func TestSkewBoundaries(t *testing.T) {
	secret := NewSecret()
	now := time.Unix(1_800_000_000, 0)
	step := Default.Step(now)
	for d, ok := range map[int64]bool{-2: false, -1: true, 0: true, 1: true, 2: false} {
		t.Run(fmt.Sprintf("T%+d", d), func(t *testing.T) {
			code, _ := Code(secret, Default, step+d)
			_, err := Verify(secret, Default, code, now, -1)
			if (err == nil) != ok {
				t.Errorf("code of step T%+d: err = %v; want accepted=%v", d, err, ok)
			}
		})
	}
}

func TestReplayIsRejected(t *testing.T) {
	secret := NewSecret()
	now := time.Unix(1_800_000_000, 0)
	code, _ := Code(secret, Default, Default.Step(now))
	step, err := Verify(secret, Default, code, now, -1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(secret, Default, code, now, step); !errors.Is(err, ErrInvalid) {
		t.Errorf("the same code again = %v; want ErrInvalid", err)
	}
	older, _ := Code(secret, Default, step-1)
	if _, err := Verify(secret, Default, older, now, step); !errors.Is(err, ErrInvalid) {
		t.Errorf("the T-1 code after T was used = %v; want ErrInvalid", err)
	}
	newer, _ := Code(secret, Default, step+1)
	if s, err := Verify(secret, Default, newer, now, step); err != nil || s != step+1 {
		t.Errorf("the T+1 code after T = %d, %v; want accepted", s, err)
	}
}

func TestMalformedCodes(t *testing.T) {
	secret := NewSecret()
	now := time.Unix(1_800_000_000, 0)
	good, _ := Code(secret, Default, Default.Step(now))
	for i, c := range []string{"", "12345", "1234567", "abcdef", "+12345", "-12345", "123 456", " " + good, good + " ", "12\x0034",
		"１２３４５６", "١٢٣٤٥٦", strings.Repeat("1", 10<<10)} {
		t.Run(fmt.Sprintf("%d_%.20q", i, c), func(t *testing.T) {
			if _, err := Verify(secret, Default, c, now, -1); !errors.Is(err, ErrInvalid) {
				t.Errorf("Verify(%.20q) = %v; want ErrInvalid", c, err)
			}
		})
	}
}

func TestWeakSecretsAndParams(t *testing.T) {
	now := time.Now()
	for _, s := range [][]byte{nil, {}, []byte("short")} {
		t.Run(fmt.Sprintf("%d bytes", len(s)), func(t *testing.T) {
			if _, err := Verify(s, Default, "123456", now, -1); !errors.Is(err, ErrBadParams) {
				t.Errorf("Verify with a %d-byte secret = %v; want ErrBadParams", len(s), err)
			}
		})
	}
	for _, p := range []Params{{Algorithm: "MD5", Digits: 6, Period: 30 * time.Second}, {Algorithm: SHA1, Digits: 0, Period: 30 * time.Second}, {Algorithm: SHA1, Digits: 6}} {
		t.Run(fmt.Sprintf("%+v", p), func(t *testing.T) {
			if _, err := Verify(NewSecret(), p, "123456", now, -1); !errors.Is(err, ErrBadParams) {
				t.Errorf("Verify with %+v = %v; want ErrBadParams", p, err)
			}
		})
	}
}

func TestURIAndQR(t *testing.T) {
	secret := []byte("12345678901234567890")
	uri, err := URI("Vigil Example", "alice@example.org", secret, Default)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"otpauth://totp/Vigil%20Example:alice@example.org", "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "issuer=Vigil+Example", "digits=6", "period=30", "algorithm=SHA1"} {
		if !strings.Contains(uri, want) {
			t.Errorf("URI = %s; lacks %s", uri, want)
		}
	}
	if _, err := URI("Bad:Issuer", "a", secret, Default); err == nil {
		t.Error("issuer with ':' accepted")
	}
	png, err := QRPNG(uri, 256)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("QRPNG = %d bytes, %v", len(png), err)
	}
	if got := SecretText(secret); got != "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ" {
		t.Errorf("SecretText = %q", got)
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("123456")
	f.Add("１２３４５６")
	f.Fuzz(func(t *testing.T, code string) {
		secret := []byte("12345678901234567890")
		now := time.Unix(1_800_000_000, 0)
		step, err := Verify(secret, Default, code, now, -1)
		if err != nil {
			return
		}
		want, _ := Code(secret, Default, step)
		if want != code {
			t.Fatalf("Verify(%q) accepted step %d whose code is %s", code, step, want)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	secret := NewSecret()
	now := time.Unix(1_800_000_000, 0)
	code, _ := Code(secret, Default, Default.Step(now))
	b.ReportAllocs()
	for b.Loop() {
		Verify(secret, Default, code, now, -1)
	}
}
