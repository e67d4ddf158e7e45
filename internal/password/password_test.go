package password

import (
	"errors"
	"strings"
	"testing"
)

func TestDefaultsMeetTheMinimum(t *testing.T) {
	if Default.MemoryKiB < 19*1024 || Default.Time < 2 || Default.Threads < 1 {
		t.Errorf("Default = %+v; want at least 19 MiB, t=2, p=1", Default)
	}
	h := Hash("correct horse battery", Default)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("Hash = %s", h)
	}
}

func TestVerify(t *testing.T) {
	fast := Params{MemoryKiB: 64, Time: 1, Threads: 1}
	h := Hash("correct horse battery", fast)
	if err := Verify("correct horse battery", h); err != nil {
		t.Errorf("Verify(right) = %v", err)
	}
	if h2 := Hash("correct horse battery", fast); h2 == h {
		t.Error("two hashes of one password are equal: no salt")
	}
	for _, bad := range []struct{ pw, hash string }{
		{"wrong horse battery", h}, {"", h}, {"correct horse battery", "$argon2id$garbage"}, {"correct horse battery", ""},
		{"correct horse battery", "$bcrypt$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA"}, {strings.Repeat("x", 2000), h},
	} {
		if err := Verify(bad.pw, bad.hash); !errors.Is(err, ErrMismatch) {
			t.Errorf("Verify(%.10q, %.30q) = %v; want ErrMismatch", bad.pw, bad.hash, err)
		}
	}
	if Check("short") == nil || Check(strings.Repeat("a", 1025)) == nil || Check("long enough password") != nil {
		t.Error("Check limits")
	}
}
